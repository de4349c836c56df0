package codec

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// FuzzDecode feeds the codec's decoders bytes as they could come off the
// network, split over two of gRPC's buffers at any point: no input makes
// one panic, and each decodes exactly what proto.Unmarshal decodes — the
// client's AttachResponse and AttachRequest decoders fail where protobuf
// fails and agree where it succeeds; the server's AttachIn never fails
// (what protobuf refuses is marked Malformed) and its zero-copy views hold
// the bytes protobuf finds. The seed corpus is in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, m := range []proto.Message{
		&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: []byte("hello")}},
		&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: []byte{}}},
		&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: bytes.Repeat([]byte{7}, 300)}},
		&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Open{Open: &sockdv1.AttachOpen{Id: "abc", RecvOffset: proto.Int64(5)}}},
		&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Ack{Ack: 1 << 40}},
		&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Close{Close: &sockdv1.AttachClose{}}},
		&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Datagram{Datagram: &sockdv1.Datagram{Data: []byte("d"), Address: "127.0.0.1:9"}}},
		&sockdv1.AttachResponse{Msg: &sockdv1.AttachResponse_Data{Data: []byte("world")}},
		&sockdv1.AttachResponse{Msg: &sockdv1.AttachResponse_Written{Written: 65536}},
		&sockdv1.AttachResponse{Msg: &sockdv1.AttachResponse_Socket{Socket: &sockdv1.Socket{Id: "x"}}, RecvOffset: 3, SendOffset: 4},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(len(b)/2))
	}
	for _, raw := range [][]byte{
		{}, {0x12}, {0x12, 0x05, 'a'}, {0x12, 0x80, 0x00}, {0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		{0x12, 0x01, 'a', 0x12, 0x01, 'b'}, {0x0a, 0x02, 0x0a, 0xff}, {0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		f.Add(raw, uint16(1))
	}
	f.Fuzz(func(t *testing.T, wire []byte, split uint16) {
		at := int(split) % (len(wire) + 1)
		// Copies: a decoder must not depend on bytes it was not given.
		buffers := func() mem.BufferSlice {
			return mem.BufferSlice{mem.SliceBuffer(bytes.Clone(wire[:at])), mem.SliceBuffer(bytes.Clone(wire[at:]))}
		}
		client, server := New(), NewServer()

		var wantReq sockdv1.AttachRequest
		reqErr := proto.Unmarshal(wire, &wantReq)
		var gotReq sockdv1.AttachRequest
		if err := client.Unmarshal(buffers(), &gotReq); (err == nil) != (reqErr == nil) {
			t.Fatalf("AttachRequest %x: codec error %v, protobuf's %v", wire, err, reqErr)
		} else if err == nil && !proto.Equal(&gotReq, &wantReq) {
			t.Fatalf("AttachRequest %x: codec decodes %v, protobuf %v", wire, &gotReq, &wantReq)
		}

		var wantResp sockdv1.AttachResponse
		respErr := proto.Unmarshal(wire, &wantResp)
		// Into a message that already holds data, as the client's pump
		// could reuse one: nothing of it may show through.
		gotResp := sockdv1.AttachResponse{Msg: &sockdv1.AttachResponse_Data{Data: bytes.Repeat([]byte{0xee}, 64)}}
		if err := client.Unmarshal(buffers(), &gotResp); (err == nil) != (respErr == nil) {
			t.Fatalf("AttachResponse %x: codec error %v, protobuf's %v", wire, err, respErr)
		} else if err == nil && !proto.Equal(&gotResp, &wantResp) {
			t.Fatalf("AttachResponse %x: codec decodes %v, protobuf %v", wire, &gotResp, &wantResp)
		}

		var in AttachIn
		if err := server.Unmarshal(buffers(), &in); err != nil {
			t.Fatalf("AttachIn %x: the server codec failed (%v) instead of marking the message", wire, err)
		}
		defer in.Data.Free()
		why, malformed := Malformed(&in)
		switch {
		case reqErr != nil && !malformed:
			t.Fatalf("AttachIn %x: protobuf refuses it (%v), the server codec neither fails nor marks it", wire, reqErr)
		case reqErr != nil:
			if why == "" {
				t.Fatalf("AttachIn %x: marked malformed without a reason", wire)
			}
		case malformed:
			t.Fatalf("AttachIn %x: marked malformed (%s), but protobuf decodes %v", wire, why, &wantReq)
		case in.IsData:
			d, ok := wantReq.GetMsg().(*sockdv1.AttachRequest_Data)
			if !ok || !bytes.Equal(in.Data.Materialize(), d.Data) {
				t.Fatalf("AttachIn %x: data %x, protobuf decodes %v", wire, in.Data.Materialize(), &wantReq)
			}
		case !proto.Equal(&in.Msg, &wantReq):
			t.Fatalf("AttachIn %x: decodes %v, protobuf %v", wire, &in.Msg, &wantReq)
		}
	})
}
