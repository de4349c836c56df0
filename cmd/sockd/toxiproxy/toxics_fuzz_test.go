package toxiproxy

import (
	"encoding/json"
	"math"
	"net/http"
	"testing"

	"google.golang.org/protobuf/proto"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// validToxics is one body of each toxic type, in toxiproxy's JSON.
var validToxics = []string{
	`{"type":"latency","attributes":{"latency":100,"jitter":10}}`,
	`{"type":"bandwidth","stream":"upstream","attributes":{"rate":100}}`,
	`{"type":"slicer","toxicity":0.5,"attributes":{"average_size":100,"size_variation":10,"delay":10}}`,
	`{"type":"timeout","attributes":{"timeout":100}}`,
	`{"type":"reset_peer","attributes":{"timeout":100}}`,
	`{"type":"limit_data","attributes":{"bytes":100}}`,
	`{"type":"slow_close","name":"slow","attributes":{"delay":100}}`,
	`{"type":"blackhole"}`,
	`{"type":"loss","attributes":{"percent":10,"correlation":5}}`,
	`{"type":"duplicate","attributes":{"percent":10}}`,
	`{"type":"reorder","attributes":{"percent":10,"gap":2}}`,
	`{"type":"corrupt","attributes":{"percent":10.5}}`,
}

// taken is a proxy with one toxic, "taken".
var taken = &sockdv1.Proxy{Id: "p", Name: "p", Faults: []*sockdv1.Fault{{Name: "taken", Type: sockdv1.FaultType_FAULT_TYPE_LATENCY}}}

// checkParsed holds what a parsed toxic must be: named, of a known type,
// with a toxicity from 0 to 1 — and, shown as toxiproxy's JSON and parsed
// again, the same fault.
func checkParsed(t *testing.T, body []byte, f *sockdv1.Fault) {
	t.Helper()
	if f.GetName() == "" {
		t.Fatalf("%q: a fault without a name", body)
	}
	if _, ok := toxicTypeOf(f.GetType()); !ok {
		t.Fatalf("%q: type %v", body, f.GetType())
	}
	if p := toxicity(f); math.IsNaN(p) || p < 0 || p > 1 {
		t.Fatalf("%q: toxicity %v", body, p)
	}
	shown, ok := showToxic(f)
	if !ok {
		t.Fatalf("%q: cannot show %v", body, f)
	}
	js, err := json.Marshal(shown)
	if err != nil {
		t.Fatal(err)
	}
	again, aerr := parseToxic(js, &sockdv1.Proxy{})
	if aerr != nil {
		t.Fatalf("%q shown as %s does not parse: %v", body, js, aerr)
	}
	// The toxicity is shown as toxiproxy's float32.
	if math.Abs(toxicity(again)-toxicity(f)) > 1e-6 {
		t.Fatalf("%q: toxicity %v shown and read back as %v", body, toxicity(f), toxicity(again))
	}
	a, b := proto.CloneOf(f), proto.CloneOf(again)
	a.Probability, b.Probability = nil, nil
	if !proto.Equal(a, b) {
		t.Fatalf("%q: %v shown as %s reads back as %v", body, f, js, again)
	}
}

func checkRefused(t *testing.T, body []byte, aerr *apiError) {
	t.Helper()
	switch aerr.Status {
	case http.StatusBadRequest, http.StatusConflict, http.StatusNotFound:
	default:
		t.Fatalf("%q: status %d", body, aerr.Status)
	}
	if aerr.Message == "" {
		t.Fatalf("%q: an error without a message", body)
	}
}

func TestEveryToxicTypeRoundTrips(t *testing.T) {
	for _, body := range validToxics {
		f, aerr := parseToxic([]byte(body), taken)
		if aerr != nil {
			t.Fatalf("%s: %v", body, aerr)
		}
		checkParsed(t, []byte(body), f)
	}
	if _, aerr := parseToxic([]byte(`{"name":"taken","type":"timeout"}`), taken); aerr != errToxicAlreadyExists {
		t.Errorf("a taken name: %v", aerr)
	}
}

// FuzzParseToxic: no body panics the parser of a new toxic; each is
// refused with a 400 or 409 and a message, or is a fault that shows and
// reads back as itself.
func FuzzParseToxic(f *testing.F) {
	for _, body := range validToxics {
		f.Add([]byte(body))
	}
	f.Add([]byte(`{"name":"taken","type":"latency"}`))
	f.Add([]byte(`{"type":"latency","stream":"sideways"}`))
	f.Add([]byte(`{"type":"latency","attributes":{"latency":-1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fault, aerr := parseToxic(body, taken)
		if aerr != nil {
			checkRefused(t, body, aerr)
			return
		}
		checkParsed(t, body, fault)
	})
}

// FuzzParseToxicUpdate: no body panics the parser of an update of a toxic
// of any type; what it accepts keeps the toxic's name and type and gives
// every parameter a value in range.
func FuzzParseToxicUpdate(f *testing.F) {
	f.Add([]byte(`{"attributes":{"latency":5}}`), uint8(0))
	f.Add([]byte(`{"toxicity":0.1}`), uint8(2))
	f.Add([]byte(`{"attributes":{"size_variation":1000}}`), uint8(2))
	f.Add([]byte(`{"attributes":null,"toxicity":null}`), uint8(7))
	f.Add([]byte(`{"attributes":{"gap":-3}}`), uint8(10))
	f.Fuzz(func(t *testing.T, body []byte, kind uint8) {
		old, aerr := parseToxic([]byte(validToxics[int(kind)%len(validToxics)]), taken)
		if aerr != nil {
			t.Fatal(aerr)
		}
		fault, paths, aerr := parseToxicUpdate(body, old)
		if aerr != nil {
			checkRefused(t, body, aerr)
			return
		}
		if fault.GetName() != old.GetName() || fault.GetType() != old.GetType() || len(paths) == 0 {
			t.Fatalf("%q: %v updated as %v (%v)", body, old, fault, paths)
		}
		fault.Direction = old.GetDirection()
		checkParsed(t, body, fault)
	})
}
