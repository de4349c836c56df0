// Package codec is the gRPC codec of the Attach data path: wire-identical to
// protobuf, but an AttachRequest or AttachResponse that carries only bytes is
// encoded by writing its three-to-six-byte header and copying the bytes once
// into a pooled buffer (or, for LentData, not copying them at all), and
// decoded by copying them once into the buffer of the message it is decoded
// into (so a receiver that reuses its message allocates nothing). Every
// other message goes to the standard protobuf codec.
//
// It is used per call (grpc.ForceCodecV2) by the client, and per server
// (grpc.ForceServerCodecV2) by sockd; it registers nothing globally. It
// imports only gen and gRPC.
package codec

import (
	"encoding/binary"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // the fallback, registered by import
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// Name is the content-subtype: the same as protobuf's, since the bytes on the
// wire are the same.
const Name = "proto"

// Codec implements encoding.CodecV2.
type Codec struct {
	fallback encoding.CodecV2
	// markMalformed: instead of failing (which grpc-go reports as INTERNAL,
	// a server fault), a message that does not decode is left empty and
	// marked, so that the server can answer INVALID_ARGUMENT (see
	// Malformed). For the server side.
	markMalformed bool
}

var _ encoding.CodecV2 = Codec{}

// New returns the codec, for clients: a message that does not decode is an
// error.
func New() Codec {
	return Codec{fallback: encoding.GetCodecV2(Name)}
}

// NewServer returns the codec for servers: a request that does not decode
// (malformed wire data, invalid UTF-8 in a string field) is marked for
// Malformed instead of failing the call as INTERNAL.
func NewServer() Codec {
	return Codec{fallback: encoding.GetCodecV2(Name), markMalformed: true}
}

// malformedField is the field number of the mark: the largest protobuf
// allows, which no sockd message uses.
const malformedField = protowire.MaxValidNumber

// Malformed reports whether a message was marked by a server codec as not
// decoding, and why.
func Malformed(v any) (string, bool) {
	if in, ok := v.(*AttachIn); ok {
		if in.IsData {
			return "", false
		}
		v = &in.Msg
	}
	m, ok := v.(proto.Message)
	if !ok {
		return "", false
	}
	unknown := m.ProtoReflect().GetUnknown()
	for len(unknown) > 0 {
		num, typ, n := protowire.ConsumeTag(unknown)
		if n < 0 {
			return "", false
		}
		unknown = unknown[n:]
		if num == malformedField && typ == protowire.BytesType {
			why, _ := protowire.ConsumeBytes(unknown)
			return string(why), true
		}
		n = protowire.ConsumeFieldValue(num, typ, unknown)
		if n < 0 {
			return "", false
		}
		unknown = unknown[n:]
	}
	return "", false
}

// unmarshalOrMark decodes with the protobuf codec; a server codec marks a
// message that does not decode rather than failing.
func (c Codec) unmarshalOrMark(wire mem.BufferSlice, v any) error {
	err := c.fallback.Unmarshal(wire, v)
	if err == nil || !c.markMalformed {
		return err
	}
	m, ok := v.(proto.Message)
	if !ok {
		return err
	}
	proto.Reset(m)
	mark := protowire.AppendTag(nil, malformedField, protowire.BytesType)
	mark = protowire.AppendBytes(mark, []byte(err.Error()))
	m.ProtoReflect().SetUnknown(mark)
	return nil
}

func (Codec) Name() string { return Name }

// dataTag is the protobuf key of the `bytes data = 2` field of both
// AttachRequest and AttachResponse: field 2, wire type 2 (length-delimited).
const dataTag = 2<<3 | 2

// LentData is an AttachRequest that carries only bytes (`data`), sent
// without the copy: Marshal references Data instead of copying it into a
// buffer of gRPC's, so the sender must leave Data unchanged until gRPC has
// written it to the connection — which it knows for certain once sockd has
// reported the bytes written (AttachResponse.written). The Go client lends
// what it keeps for a resume anyway; on the wire it is an AttachRequest
// with data.
type LentData struct{ Data []byte }

// Marshal implements encoding.CodecV2.
func (c Codec) Marshal(v any) (mem.BufferSlice, error) {
	var data []byte
	switch m := v.(type) {
	case *LentData:
		hdr, n := encodeDataHeader(len(m.Data))
		buf := buffers.Get(n)
		copy(*buf, hdr[:n])
		// A SliceBuffer's Free does nothing: the lender recycles Data.
		return mem.BufferSlice{mem.NewBuffer(buf, buffers), mem.SliceBuffer(m.Data)}, nil
	case *sockdv1.AttachRequest:
		d, ok := m.GetMsg().(*sockdv1.AttachRequest_Data)
		if !ok {
			return c.fallback.Marshal(v)
		}
		data = d.Data
	case *sockdv1.AttachResponse:
		d, ok := m.GetMsg().(*sockdv1.AttachResponse_Data)
		if !ok || m.RecvOffset != 0 || m.SendOffset != 0 {
			return c.fallback.Marshal(v)
		}
		data = d.Data
	default:
		return c.fallback.Marshal(v)
	}
	hdr, n := encodeDataHeader(len(data))
	buf := buffers.Get(n + len(data))
	copy(*buf, hdr[:n])
	copy((*buf)[n:], data)
	return mem.BufferSlice{mem.NewBuffer(buf, buffers)}, nil
}

// encodeDataHeader is the encoding of a `data` field of size bytes, less the
// bytes, and its length. A set oneof is always encoded, even when empty:
// tag, length, bytes.
func encodeDataHeader(size int) (hdr [1 + binary.MaxVarintLen64]byte, n int) {
	hdr[0] = dataTag
	return hdr, 1 + binary.PutUvarint(hdr[1:], uint64(size))
}

// Unmarshal implements encoding.CodecV2.
func (c Codec) Unmarshal(wire mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *AttachIn:
		return c.unmarshalAttachIn(wire, m)
	case *sockdv1.AttachRequest:
		d, ok := m.GetMsg().(*sockdv1.AttachRequest_Data)
		if !ok {
			d = &sockdv1.AttachRequest_Data{}
		}
		if data, ok := decodeData(wire, d.Data); ok {
			d.Data = data
			m.Msg = d // reusing the oneof wrapper: nothing allocated
			return nil
		}
	case *sockdv1.AttachResponse:
		d, ok := m.GetMsg().(*sockdv1.AttachResponse_Data)
		if !ok {
			d = &sockdv1.AttachResponse_Data{}
		}
		if data, ok := decodeData(wire, d.Data); ok {
			d.Data = data
			m.Msg = d
			return nil
		}
	}
	if msg, ok := v.(interface{ Reset() }); ok {
		msg.Reset()
	}
	return c.unmarshalOrMark(wire, v)
}

// decodeData reads a message that is exactly one `bytes data = 2` field,
// copying the bytes into into's capacity (or a new slice if it is too
// small). It reports false for anything else, which the protobuf codec then
// decodes.
func decodeData(wire mem.BufferSlice, into []byte) ([]byte, bool) {
	skip, length, ok := dataHeader(wire)
	if !ok {
		return nil, false
	}
	out := into[:0]
	if cap(out) < int(length) {
		out = make([]byte, length)
	} else {
		out = out[:length]
	}
	got := 0
	for _, b := range wire {
		bs := b.ReadOnlyData()
		if skip >= len(bs) {
			skip -= len(bs)
			continue
		}
		got += copy(out[got:], bs[skip:])
		skip = 0
	}
	return out, true
}

// AttachIn receives an AttachRequest without copying its bytes: for a data
// message, Data holds views of gRPC's receive buffers (the caller must Free
// them when done) and IsData is true; any other message is decoded into Msg.
// Use it with stream.RecvMsg on the server side of Attach.
type AttachIn struct {
	IsData bool
	Data   mem.BufferSlice
	Msg    sockdv1.AttachRequest
}

func (c Codec) unmarshalAttachIn(wire mem.BufferSlice, in *AttachIn) error {
	in.IsData, in.Data = false, in.Data[:0]
	if skip, length, ok := dataHeader(wire); ok {
		in.IsData = true
		end := skip + int(length)
		off := 0
		for _, b := range wire {
			n := b.Len()
			lo, hi := max(skip, off), min(end, off+n)
			switch {
			case lo == off && hi == off+n:
				// The whole buffer: a counted reference to it as it is
				// (slicing a small, unpooled buffer would allocate).
				b.Ref()
				in.Data = append(in.Data, b)
			case lo < hi:
				in.Data = append(in.Data, b.Slice(lo-off, hi-off)) // a counted reference
			}
			off += n
		}
		return nil
	}
	in.Msg.Reset()
	return c.unmarshalOrMark(wire, &in.Msg)
}

// dataHeader parses the header of a message that is exactly one `bytes data
// = 2` field: where the bytes start, and how many there are.
func dataHeader(wire mem.BufferSlice) (skip int, length uint64, ok bool) {
	total := wire.Len()
	if total < 2 {
		return 0, 0, false
	}
	var head [1 + binary.MaxVarintLen64]byte
	hn := 0
	for _, b := range wire {
		hn += copy(head[hn:], b.ReadOnlyData())
		if hn == len(head) {
			break
		}
	}
	if head[0] != dataTag {
		return 0, 0, false
	}
	length, vn := binary.Uvarint(head[1:hn])
	skip = 1 + vn
	if vn <= 0 || uint64(total-skip) != length {
		return 0, 0, false
	}
	return skip, length, true
}
