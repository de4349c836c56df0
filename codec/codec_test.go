package codec

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// The codec's bytes are exactly protobuf's, both ways, for every message
// shape of the Attach stream.
func TestWireIdenticalToProto(t *testing.T) {
	c := New()
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000)
	msgs := []proto.Message{
		&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: []byte("hello")}},
		&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: []byte{}}},
		&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: big}},
		&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Open{Open: &sockdv1.AttachOpen{Id: "abc"}}},
		&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Close{Close: &sockdv1.AttachClose{}}},
		&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Datagram{Datagram: &sockdv1.Datagram{Data: []byte("d"), Address: "127.0.0.1:9"}}},
		&sockdv1.AttachResponse{Msg: &sockdv1.AttachResponse_Data{Data: big[:1000]}},
		&sockdv1.AttachResponse{Msg: &sockdv1.AttachResponse_Socket{Socket: &sockdv1.Socket{Id: "x", Name: "n"}}},
		&sockdv1.Socket{Id: "not an attach message"},
	}
	for _, m := range msgs {
		want, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Materialize(), want) {
			t.Fatalf("%v: codec bytes differ from protobuf's", m)
		}
		got.Free()
		// Decode protobuf's bytes, split over several buffers, into a
		// fresh message and into one whose buffer is reused.
		for _, into := range []proto.Message{m.ProtoReflect().New().Interface(), reuse(m)} {
			if err := c.Unmarshal(split(want), into); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(into, m) {
				t.Fatalf("decoded %v, want %v", into, m)
			}
		}
	}
}

// reuse is an empty message of m's type that carries a data buffer to reuse.
func reuse(m proto.Message) proto.Message {
	switch m.(type) {
	case *sockdv1.AttachRequest:
		return &sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: make([]byte, 7, 100000)}}
	case *sockdv1.AttachResponse:
		return &sockdv1.AttachResponse{Msg: &sockdv1.AttachResponse_Data{Data: make([]byte, 3, 100000)}}
	}
	return m.ProtoReflect().New().Interface()
}

func split(b []byte) mem.BufferSlice {
	var s mem.BufferSlice
	for len(b) > 0 {
		n := min(len(b), 3+len(b)/3)
		s = append(s, mem.SliceBuffer(b[:n]))
		b = b[n:]
	}
	return s
}

// Decoding into a reused message allocates nothing.
func TestReusedDecodeDoesNotAllocate(t *testing.T) {
	c := New()
	wire, _ := proto.Marshal(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: make([]byte, 64<<10)}})
	slice := mem.BufferSlice{mem.SliceBuffer(wire)}
	m := &sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: make([]byte, 0, 64<<10)}}
	allocs := testing.AllocsPerRun(100, func() {
		if err := c.Unmarshal(slice, m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Fatalf("%v allocations per decode", allocs)
	}
}

func BenchmarkMarshal64K(b *testing.B) {
	c := New()
	m := &sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: make([]byte, 64<<10)}}
	b.SetBytes(64 << 10)
	b.ReportAllocs()
	for b.Loop() {
		s, _ := c.Marshal(m)
		s.Free()
	}
}

func BenchmarkUnmarshal64KReused(b *testing.B) {
	c := New()
	wire, _ := proto.Marshal(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: make([]byte, 64<<10)}})
	slice := mem.BufferSlice{mem.SliceBuffer(wire)}
	m := &sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: make([]byte, 0, 64<<10)}}
	b.SetBytes(64 << 10)
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Unmarshal(slice, m)
	}
}

// AttachIn takes views of the receive buffers for data messages, and decodes
// anything else into Msg.
func TestAttachInViews(t *testing.T) {
	c := New()
	payload := bytes.Repeat([]byte("zero copy "), 3000)
	wire, _ := proto.Marshal(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: payload}})
	var in AttachIn
	if err := c.Unmarshal(split(wire), &in); err != nil {
		t.Fatal(err)
	}
	if !in.IsData || !bytes.Equal(in.Data.Materialize(), payload) {
		t.Fatalf("data message: IsData=%v, %d bytes", in.IsData, in.Data.Len())
	}
	in.Data.Free()
	wire, _ = proto.Marshal(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Close{Close: &sockdv1.AttachClose{}}})
	if err := c.Unmarshal(split(wire), &in); err != nil {
		t.Fatal(err)
	}
	if in.IsData || in.Msg.GetClose() == nil {
		t.Fatalf("close message: %+v", &in.Msg)
	}
	wire, _ = proto.Marshal(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{}})
	if err := c.Unmarshal(split(wire), &in); err != nil || !in.IsData || in.Data.Len() != 0 {
		t.Fatalf("empty data message: %v %v", in.IsData, err)
	}
}

// LentData is an AttachRequest with data on the wire, and its bytes are
// referenced, not copied: what the lender writes into them before gRPC
// sends is what goes out.
func TestLentDataIsWireIdenticalAndNotCopied(t *testing.T) {
	c := New()
	for _, data := range [][]byte{nil, {}, []byte("hello"), bytes.Repeat([]byte("0123456789abcdef"), 5000)} {
		want, err := proto.Marshal(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: data}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Marshal(&LentData{Data: data})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Materialize(), want) {
			t.Fatalf("%d bytes lent: codec bytes differ from protobuf's", len(data))
		}
		if len(data) > 0 {
			data[0] ^= 0xff
			if got.Materialize()[len(want)-len(data)] != data[0] {
				t.Fatalf("%d bytes lent: the message holds a copy", len(data))
			}
			data[0] ^= 0xff
		}
		got.Free()
	}
}
