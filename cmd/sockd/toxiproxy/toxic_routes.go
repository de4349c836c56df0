package toxiproxy

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"strings"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// toxicInput is a toxic as a request body (toxiproxy's ToxicWrapper);
// the attributes are decoded once the type is known.
type toxicInput struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Stream   *string  `json:"stream"`
	Toxicity *float64 `json:"toxicity"`
}

// decodeAttributes decodes a body's "attributes" into attrs, as toxiproxy
// does (its field names and words in errors), with the toxicity if the
// body has one.
func decodeAttributes(body []byte, attrs attributes, toxicity *float64) *apiError {
	v := struct {
		Attributes any      `json:"attributes"`
		Toxicity   *float64 `json:"toxicity"`
	}{Attributes: attrs, Toxicity: toxicity}
	return decodeBody(bytes.NewReader(body), &v)
}

func checkToxicity(t float64) *apiError {
	if math.IsNaN(t) || t < 0 || t > 1 {
		return newError(http.StatusBadRequest, "bad request body: toxicity must be from 0 to 1")
	}
	return nil
}

// readBody reads a whole request body (the HTTP side's limit bounds it).
func readBody(r *http.Request) ([]byte, *apiError) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, badBody(err)
	}
	return b, nil
}

// toxicIndex answers GET /proxies/{proxy}/toxics.
func (h *handler) toxicIndex(w http.ResponseWriter, c *call) {
	p, aerr := h.lookup(c, c.r.PathValue("proxy"))
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, showToxics(p.GetFaults()))
}

// toxicCreate answers POST /proxies/{proxy}/toxics: 200 (toxiproxy's
// code, not 201) and the toxic.
func (h *handler) toxicCreate(w http.ResponseWriter, c *call) {
	p, aerr := h.lookup(c, c.r.PathValue("proxy"))
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	body, aerr := readBody(c.r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	f, aerr := parseToxic(body, p)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	got, err := h.proxies.AddFault(c.ctx, &sockdv1.AddFaultRequest{ProxyId: p.GetId(), Fault: f})
	if err != nil {
		writeAPIError(w, fromStatus(err, ""))
		return
	}
	t, _ := showToxic(got)
	writeJSON(w, http.StatusOK, t)
}

// parseToxic reads a new toxic for proxy p, checking it in toxiproxy's
// order (its AddToxicJson): the body, the stream, the type, the name (a
// toxic of that name on p is 409), the attributes. sockd checks the rest
// (names it refuses, types that do not apply to the protocol).
func parseToxic(body []byte, p *sockdv1.Proxy) (*sockdv1.Fault, *apiError) {
	var in toxicInput
	if aerr := decodeBody(bytes.NewReader(body), &in); aerr != nil {
		return nil, aerr
	}
	stream := "downstream"
	if in.Stream != nil {
		// toxiproxy takes any case, and names the toxic with the stream as
		// given; sockd's names are lower case, so both are.
		stream = strings.ToLower(*in.Stream)
	}
	dir := sockdv1.Direction_DIRECTION_DOWNSTREAM
	switch stream {
	case "downstream":
	case "upstream":
		dir = sockdv1.Direction_DIRECTION_UPSTREAM
	default:
		return nil, errInvalidStream
	}
	if in.Name == "" {
		in.Name = in.Type + "_" + stream
	}
	typ, ok := toxicTypeNamed(in.Type)
	if !ok {
		return nil, errInvalidToxicType
	}
	if findFault(p, in.Name) != nil {
		return nil, errToxicAlreadyExists
	}
	attrs := typ.attrs()
	if aerr := decodeAttributes(body, attrs, nil); aerr != nil {
		return nil, aerr
	}
	f := &sockdv1.Fault{Name: in.Name, Type: typ.fault, Direction: dir}
	if in.Toxicity != nil {
		if aerr := checkToxicity(*in.Toxicity); aerr != nil {
			return nil, aerr
		}
		f.Probability = in.Toxicity
	}
	if aerr := attrs.toFault(f); aerr != nil {
		return nil, aerr
	}
	return f, nil
}

// toxicShow answers GET /proxies/{proxy}/toxics/{toxic}.
func (h *handler) toxicShow(w http.ResponseWriter, c *call) {
	p, aerr := h.lookup(c, c.r.PathValue("proxy"))
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	f := findFault(p, c.r.PathValue("toxic"))
	t, ok := showToxic(f)
	if f == nil || !ok {
		writeAPIError(w, errToxicNotFound)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// toxicUpdate answers POST /proxies/{proxy}/toxics/{toxic}.
func (h *handler) toxicUpdate(w http.ResponseWriter, c *call) {
	p, aerr := h.lookup(c, c.r.PathValue("proxy"))
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	old := findFault(p, c.r.PathValue("toxic"))
	if _, ok := toxicTypeOf(old.GetType()); old == nil || !ok {
		writeAPIError(w, errToxicNotFound)
		return
	}
	body, aerr := readBody(c.r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	f, paths, aerr := parseToxicUpdate(body, old)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	got, err := h.proxies.UpdateFault(c.ctx, &sockdv1.UpdateFaultRequest{ProxyId: p.GetId(), Fault: f, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
	if err != nil {
		writeAPIError(w, fromStatus(err, ""))
		return
	}
	t, _ := showToxic(got)
	writeJSON(w, http.StatusOK, t)
}

// parseToxicUpdate reads an update of the fault old, as toxiproxy's
// UpdateToxicJson: the body's attributes are laid over the toxic's (those
// it leaves out keep their values), and its toxicity, if it has one,
// replaces the toxic's; name, type and stream do not change. It returns
// the fault with every value and the update mask naming them.
func parseToxicUpdate(body []byte, old *sockdv1.Fault) (*sockdv1.Fault, []string, *apiError) {
	typ, ok := toxicTypeOf(old.GetType())
	if !ok {
		return nil, nil, errToxicNotFound
	}
	attrs := typ.attrs()
	attrs.fromFault(old)
	tox := toxicity(old)
	if aerr := decodeAttributes(body, attrs, &tox); aerr != nil {
		return nil, nil, aerr
	}
	if aerr := checkToxicity(tox); aerr != nil {
		return nil, nil, aerr
	}
	f := &sockdv1.Fault{Name: old.GetName(), Type: old.GetType(), Probability: &tox}
	if aerr := attrs.toFault(f); aerr != nil {
		return nil, nil, aerr
	}
	paths := []string{"probability"}
	if typ.hasParams() {
		paths = append(paths, typ.name)
	}
	return f, paths, nil
}

// toxicDelete answers DELETE /proxies/{proxy}/toxics/{toxic}: 204.
func (h *handler) toxicDelete(w http.ResponseWriter, c *call) {
	p, aerr := h.lookup(c, c.r.PathValue("proxy"))
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	name := c.r.PathValue("toxic")
	if findFault(p, name) == nil {
		writeAPIError(w, errToxicNotFound)
		return
	}
	if _, err := h.proxies.RemoveFault(c.ctx, &sockdv1.RemoveFaultRequest{ProxyId: p.GetId(), Name: name}); err != nil {
		writeAPIError(w, fromStatus(err, ""))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
