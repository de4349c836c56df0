package toxiproxy

import (
	"fmt"
	"net/http"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// populateInput is one proxy of a /populate body (toxiproxy's
// PopulateJson: enabled may be left out, meaning true).
type populateInput struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Enabled  *bool  `json:"enabled"`
	Protocol string `json:"protocol"`
}

// populateResponse is /populate's answer: the proxies made (or kept), and
// on failure the error besides, with its status (toxiproxy's shape; its
// "proxies" is null when there are none).
type populateResponse struct {
	Error   string      `json:"error,omitempty"`
	Status  int         `json:"status,omitempty"`
	Proxies []proxyJSON `json:"proxies"`
}

// populate answers POST /populate: it makes each proxy of the body, in
// order. A proxy of that name whose listen and upstream are the ones asked
// for is kept as it is (toxics and all); one that differs is replaced by a
// new one, with no toxics. The names and upstreams are checked before any
// proxy is made; the first proxy that fails ends the request, with the
// proxies made so far in its answer (toxiproxy's AddOrReplace). A proxy
// that failed to replace another is left as toxiproxy leaves it: the old
// one, stopped.
func (h *handler) populate(w http.ResponseWriter, c *call) {
	var in []populateInput
	fail := func(e *apiError, done []proxyJSON) {
		if e.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sockd"`)
		}
		writeJSON(w, e.Status, populateResponse{Error: e.Message, Status: e.Status, Proxies: done})
	}
	if aerr := decodeBody(c.r.Body, &in); aerr != nil {
		fail(aerr, nil)
		return
	}
	for i, p := range in {
		if p.Name == "" {
			fail(missingField(fmt.Sprintf("name at proxy %d", i+1)), nil)
			return
		}
		if p.Upstream == "" {
			fail(missingField(fmt.Sprintf("upstream at proxy %d", i+1)), nil)
			return
		}
	}
	existing, err := h.listProxies(c)
	if err != nil {
		fail(fromStatus(err, ""), nil)
		return
	}
	_, byName := named(existing)
	var done []proxyJSON
	for _, spec := range in {
		enabled := spec.Enabled == nil || *spec.Enabled
		req, aerr := Proxy{Name: spec.Name, Listen: spec.Listen, Upstream: spec.Upstream, Enabled: enabled, Protocol: spec.Protocol}.createRequest(nil)
		if aerr != nil {
			fail(aerr, done)
			return
		}
		old := byName[spec.Name]
		if old != nil && old.GetName() != spec.Name {
			old = nil // an unnamed proxy known by its id: not this one
		}
		var p *sockdv1.Proxy
		switch {
		case old == nil:
			p, err = h.proxies.CreateProxy(c.ctx, req)
		case old.GetListenAddress() == req.GetListenAddress() && old.GetUpstreamAddress() == req.GetUpstreamAddress() && old.GetProtocol() == req.GetProtocol():
			p = old
		default:
			p, err = h.recreate(c, old, req, &sockdv1.CreateProxyRequest{
				Name: old.GetName(), Protocol: old.GetProtocol(), ListenAddress: old.GetListenAddress(), UpstreamAddress: old.GetUpstreamAddress(),
				Disabled: true, Faults: copyFaults(old.GetFaults()), SessionIdleTimeout: old.GetSessionIdleTimeout(),
			})
		}
		if err != nil {
			fail(fromStatus(err, req.GetListenAddress()), done)
			return
		}
		byName[spec.Name] = p
		done = append(done, showProxy(p, spec.Name))
	}
	writeJSON(w, http.StatusCreated, populateResponse{Proxies: done})
}

// reset answers POST /reset: every proxy enabled again and every toxic
// removed (toxiproxy's ResetState), 204. A proxy that cannot be enabled
// (its port taken) ends the request with that error.
func (h *handler) reset(w http.ResponseWriter, c *call) {
	ps, err := h.listProxies(c)
	if err != nil {
		writeAPIError(w, fromStatus(err, ""))
		return
	}
	for _, p := range ps {
		if !p.GetEnabled() {
			if _, err := h.updateProxy(c, p.GetId(), &sockdv1.Proxy{Enabled: true}, "enabled"); err != nil {
				writeAPIError(w, fromStatus(err, p.GetListenAddress()))
				return
			}
		}
		for _, f := range p.GetFaults() {
			_, err := h.proxies.RemoveFault(c.ctx, &sockdv1.RemoveFaultRequest{ProxyId: p.GetId(), Name: f.GetName()})
			if err != nil && fromStatus(err, "") != errToxicNotFound {
				writeAPIError(w, fromStatus(err, ""))
				return
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
