package toxiproxy

import (
	"encoding/json"
	"io"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// Proxy is toxiproxy's proxy as a request body (its Proxy type), with
// sockd's protocol ("tcp", the default, or "udp") besides.
type Proxy struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Enabled  bool   `json:"enabled"`
	Protocol string `json:"protocol"`
}

// defaultListen stands for an empty listen address: toxiproxy would
// listen on every interface at a port the kernel picks; sockd listens on
// loopback (its policy's default) at a port the kernel picks.
const defaultListen = "127.0.0.1:0"

// maxListPages bounds the pages read to list every proxy (at 1,000 a page,
// far more than a principal's socket limit allows).
const maxListPages = 1000

// decodeBody reads a request body as toxiproxy does: its first JSON value.
func decodeBody(body io.Reader, v any) *apiError {
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return badBody(err)
	}
	return nil
}

// listProxies is every proxy the caller sees, in creation order.
func (h *handler) listProxies(c *call) ([]*sockdv1.Proxy, error) {
	var out []*sockdv1.Proxy
	token := ""
	for range maxListPages {
		resp, err := h.proxies.ListProxies(c.ctx, &sockdv1.ListProxiesRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, err
		}
		out = append(out, resp.GetProxies()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	return out, nil
}

// named keys proxies by the names this API shows: a proxy's name, or its
// id when it has none or an earlier proxy (of another owner, which only an
// admin sees) has that name already.
func named(ps []*sockdv1.Proxy) ([]string, map[string]*sockdv1.Proxy) {
	names := make([]string, 0, len(ps))
	byName := make(map[string]*sockdv1.Proxy, len(ps))
	for _, p := range ps {
		name := proxyName(p)
		if _, taken := byName[name]; taken {
			name = p.GetId()
		}
		names = append(names, name)
		byName[name] = p
	}
	return names, byName
}

// lookup finds a proxy by the name this API knows it by (or its id).
// What the caller cannot see, and what cannot be a name, is 404.
func (h *handler) lookup(c *call, name string) (*sockdv1.Proxy, *apiError) {
	if name == "" {
		return nil, errProxyNotFound
	}
	p, err := h.proxies.GetProxy(c.ctx, &sockdv1.GetProxyRequest{Id: name})
	if err != nil {
		if code := status.Code(err); code == codes.NotFound || code == codes.InvalidArgument {
			return nil, errProxyNotFound
		}
		return nil, fromStatus(err, "")
	}
	if p.GetName() != name && p.GetId() != name {
		return nil, errProxyNotFound
	}
	return p, nil
}

// createRequest is the sockd request that makes the proxy in as given.
func (in Proxy) createRequest(faults []*sockdv1.Fault) (*sockdv1.CreateProxyRequest, *apiError) {
	proto, err := protocolOf(in.Protocol)
	if err != nil {
		return nil, err
	}
	listen := in.Listen
	if listen == "" {
		listen = defaultListen
	}
	return &sockdv1.CreateProxyRequest{
		Name: in.Name, Protocol: proto, ListenAddress: listen, UpstreamAddress: in.Upstream,
		Disabled: !in.Enabled, Faults: faults,
	}, nil
}

func protocolOf(s string) (sockdv1.Protocol, *apiError) {
	switch s {
	case "", "tcp":
		return sockdv1.Protocol_PROTOCOL_TCP, nil
	case "udp":
		return sockdv1.Protocol_PROTOCOL_UDP, nil
	}
	return 0, newError(http.StatusBadRequest, "bad request body: protocol must be tcp or udp")
}

func protocolName(p sockdv1.Protocol) string {
	if p == sockdv1.Protocol_PROTOCOL_UDP {
		return "udp"
	}
	return "tcp"
}

// copyFaults are a proxy's faults as a request to make them again.
func copyFaults(fs []*sockdv1.Fault) []*sockdv1.Fault {
	out := make([]*sockdv1.Fault, len(fs))
	for i, f := range fs {
		out[i] = proto.CloneOf(f)
		out[i].Applied = 0
	}
	return out
}

// proxyIndex answers GET /proxies: every proxy by name.
func (h *handler) proxyIndex(w http.ResponseWriter, c *call) {
	ps, err := h.listProxies(c)
	if err != nil {
		writeAPIError(w, fromStatus(err, ""))
		return
	}
	names, byName := named(ps)
	out := make(map[string]proxyJSON, len(names))
	for _, name := range names {
		out[name] = showProxy(byName[name], name)
	}
	writeJSON(w, http.StatusOK, out)
}

// proxyCreate answers POST /proxies: 201 and the proxy, enabled unless the
// body says "enabled": false.
func (h *handler) proxyCreate(w http.ResponseWriter, c *call) {
	in := Proxy{Enabled: true}
	if err := decodeBody(c.r.Body, &in); err != nil {
		writeAPIError(w, err)
		return
	}
	if in.Name == "" {
		writeAPIError(w, missingField("name"))
		return
	}
	if in.Upstream == "" {
		writeAPIError(w, missingField("upstream"))
		return
	}
	req, aerr := in.createRequest(nil)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	// A name taken is toxiproxy's first answer, before sockd checks the
	// addresses (CreateProxy's NAME_IN_USE covers a race).
	if _, aerr := h.lookup(c, in.Name); aerr == nil {
		writeAPIError(w, errProxyAlreadyExists)
		return
	} else if aerr != errProxyNotFound {
		writeAPIError(w, aerr)
		return
	}
	p, err := h.proxies.CreateProxy(c.ctx, req)
	if err != nil {
		writeAPIError(w, fromStatus(err, req.GetListenAddress()))
		return
	}
	writeJSON(w, http.StatusCreated, showProxy(p, proxyName(p)))
}

// proxyShow answers GET /proxies/{proxy}.
func (h *handler) proxyShow(w http.ResponseWriter, c *call) {
	name := c.r.PathValue("proxy")
	p, aerr := h.lookup(c, name)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, showProxy(p, name))
}

// proxyUpdate answers POST /proxies/{proxy}: the body's listen, upstream
// and enabled (each defaulting to the proxy's own) take effect as in
// toxiproxy's Proxy.Update — a new listen or upstream stops the proxy
// (its connections are cut) and starts it again if it is to be enabled.
func (h *handler) proxyUpdate(w http.ResponseWriter, c *call) {
	name := c.r.PathValue("proxy")
	p, aerr := h.lookup(c, name)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	in := Proxy{Listen: p.GetListenAddress(), Upstream: p.GetUpstreamAddress(), Enabled: p.GetEnabled(), Protocol: protocolName(p.GetProtocol())}
	if err := decodeBody(c.r.Body, &in); err != nil {
		writeAPIError(w, err)
		return
	}
	if in.Protocol != protocolName(p.GetProtocol()) {
		writeAPIError(w, newError(http.StatusBadRequest, "bad request body: a proxy's protocol cannot change"))
		return
	}
	if in.Upstream == "" {
		writeAPIError(w, missingField("upstream"))
		return
	}
	if in.Listen == "" {
		in.Listen = defaultListen
	}
	var err error
	switch {
	case in.Listen != p.GetListenAddress():
		p, err = h.moveProxy(c, p, in)
	case in.Upstream != p.GetUpstreamAddress():
		// toxiproxy stops the proxy to change its upstream, then starts it
		// if it is to be enabled: present connections are cut.
		if p.GetEnabled() {
			if p, err = h.updateProxy(c, p.GetId(), &sockdv1.Proxy{UpstreamAddress: in.Upstream}, "upstream_address", "enabled"); err == nil && in.Enabled {
				p, err = h.updateProxy(c, p.GetId(), &sockdv1.Proxy{Enabled: true}, "enabled")
			}
		} else {
			p, err = h.updateProxy(c, p.GetId(), &sockdv1.Proxy{UpstreamAddress: in.Upstream, Enabled: in.Enabled}, "upstream_address", "enabled")
		}
	case in.Enabled != p.GetEnabled():
		p, err = h.updateProxy(c, p.GetId(), &sockdv1.Proxy{Enabled: in.Enabled}, "enabled")
	}
	if err != nil {
		writeAPIError(w, fromStatus(err, in.Listen))
		return
	}
	if p.GetName() != name {
		name = proxyName(p)
	}
	writeJSON(w, http.StatusOK, showProxy(p, name))
}

// updateProxy changes the fields of proxy id named by paths to those of
// set.
func (h *handler) updateProxy(c *call, id string, set *sockdv1.Proxy, paths ...string) (*sockdv1.Proxy, error) {
	set.Id = id
	return h.proxies.UpdateProxy(c.ctx, &sockdv1.UpdateProxyRequest{Proxy: set, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
}

// moveProxy gives a proxy a new listen address, which sockd's UpdateProxy
// cannot change: the proxy is made again under its name with its faults
// (its connections are cut, as toxiproxy's are). If the new listener
// cannot open, the proxy is left as toxiproxy leaves it — disabled, at the
// new address — or, if sockd refuses that address outright, as it was.
func (h *handler) moveProxy(c *call, old *sockdv1.Proxy, in Proxy) (*sockdv1.Proxy, error) {
	spec := func(listen, upstream string, enabled bool) *sockdv1.CreateProxyRequest {
		return &sockdv1.CreateProxyRequest{
			Name: old.GetName(), Protocol: old.GetProtocol(), ListenAddress: listen, UpstreamAddress: upstream,
			Disabled: !enabled, Faults: copyFaults(old.GetFaults()), SessionIdleTimeout: old.GetSessionIdleTimeout(),
		}
	}
	return h.recreate(c, old, spec(in.Listen, in.Upstream, in.Enabled),
		spec(in.Listen, in.Upstream, false),
		spec(old.GetListenAddress(), old.GetUpstreamAddress(), old.GetEnabled()))
}

// recreate deletes old and makes want in its place; if want fails, it
// makes the first of fallbacks that sockd accepts, and returns want's
// error.
func (h *handler) recreate(c *call, old *sockdv1.Proxy, want *sockdv1.CreateProxyRequest, fallbacks ...*sockdv1.CreateProxyRequest) (*sockdv1.Proxy, error) {
	if _, err := h.proxies.DeleteProxy(c.ctx, &sockdv1.DeleteProxyRequest{Id: old.GetId()}); err != nil {
		return nil, err
	}
	p, err := h.proxies.CreateProxy(c.ctx, want)
	if err == nil {
		return p, nil
	}
	for _, fb := range fallbacks {
		if _, ferr := h.proxies.CreateProxy(c.ctx, fb); ferr == nil {
			break
		}
	}
	return nil, err
}

// proxyDelete answers DELETE /proxies/{proxy}: 204.
func (h *handler) proxyDelete(w http.ResponseWriter, c *call) {
	p, aerr := h.lookup(c, c.r.PathValue("proxy"))
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	if _, err := h.proxies.DeleteProxy(c.ctx, &sockdv1.DeleteProxyRequest{Id: p.GetId()}); err != nil {
		writeAPIError(w, fromStatus(err, ""))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
