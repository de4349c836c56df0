package main

import (
	"net/http"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// route is one REST mapping of an RPC, read from the protos' google.api.http
// options: the one source of the REST paths, shared with grpc-gateway.
type route struct {
	method    string
	template  string
	pattern   *regexp.Regexp
	streaming bool // a server stream: its response goes on while the call lasts
}

// restRoutes are every REST route of sockd's services.
var restRoutes = func() []route {
	var out []route
	for _, fd := range []protoreflect.FileDescriptor{sockdv1.File_sockd_v1_sockd_proto, sockdv1.File_sockd_v1_proxy_proto} {
		for i := range fd.Services().Len() {
			methods := fd.Services().Get(i).Methods()
			for j := range methods.Len() {
				m := methods.Get(j)
				rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule == nil {
					continue
				}
				for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					method, tmpl := httpRule(r)
					if tmpl != "" {
						out = append(out, route{method: method, template: tmpl, pattern: templatePattern(tmpl), streaming: m.IsStreamingServer()})
					}
				}
			}
		}
	}
	return out
}()

func httpRule(r *annotations.HttpRule) (method, template string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	}
	return "", ""
}

// templatePattern turns "/v1/sockets/{id}:bind" into a regular expression
// over the request's path: a variable is one segment up to a verb.
func templatePattern(tmpl string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for rest := tmpl; rest != ""; {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:open]))
		end := strings.IndexByte(rest[open:], '}')
		b.WriteString(`[^/:]+`)
		rest = rest[open+end+1:]
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// allowedMethods lists the methods with a route for path, sorted.
func allowedMethods(path string) []string {
	var out []string
	for _, r := range restRoutes {
		if r.pattern.MatchString(path) && !slices.Contains(out, r.method) {
			out = append(out, r.method)
		}
	}
	slices.Sort(out)
	return out
}

// streamingRoute reports whether a request is for a server-streaming RPC.
func streamingRoute(method, path string) bool {
	for _, r := range restRoutes {
		if r.streaming && r.method == method && r.pattern.MatchString(path) {
			return true
		}
	}
	return false
}
