package service_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// connectedSocket returns a sockd socket connected to a Go peer.
func connectedSocket(t *testing.T, c sockdv1.SocketServiceClient) (*sockdv1.Socket, net.Conn) {
	t.Helper()
	ctx := ctxT(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := ok[*sockdv1.Socket](t)(c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{ConnectAddress: l.Addr().String()}))
	peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	return s, peer
}

func TestRecvAndSendOffsetsOverTheService(t *testing.T) {
	c := newClient(t, nil)
	ctx := ctxT(t)
	s, peer := connectedSocket(t, c)
	peer.Write([]byte("0123456789"))
	wait := durationpb.New(5 * time.Second)
	r := ok[*sockdv1.RecvResponse](t)(c.Recv(ctx, &sockdv1.RecvRequest{Id: s.GetId(), MaxBytes: 4, WaitAll: true, FromOffset: proto.Int64(0), Timeout: wait}))
	if string(r.GetData()) != "0123" || r.GetOffset() != 0 {
		t.Fatalf("first: %q at %d", r.GetData(), r.GetOffset())
	}
	r = ok[*sockdv1.RecvResponse](t)(c.Recv(ctx, &sockdv1.RecvRequest{Id: s.GetId(), MaxBytes: 4, FromOffset: proto.Int64(0), Timeout: wait}))
	if string(r.GetData()) != "0123" || r.GetOffset() != 0 {
		t.Fatalf("asked again: %q at %d", r.GetData(), r.GetOffset())
	}
	r = ok[*sockdv1.RecvResponse](t)(c.Recv(ctx, &sockdv1.RecvRequest{Id: s.GetId(), MaxBytes: 64, FromOffset: proto.Int64(4), Timeout: wait}))
	if string(r.GetData()) != "456789" || r.GetOffset() != 4 {
		t.Fatalf("next: %q at %d", r.GetData(), r.GetOffset())
	}
	_, err := c.Recv(ctx, &sockdv1.RecvRequest{Id: s.GetId(), MaxBytes: 4, FromOffset: proto.Int64(0)})
	wantErr(t, err, codes.FailedPrecondition, "OFFSET_UNAVAILABLE")
	_, err = c.Recv(ctx, &sockdv1.RecvRequest{Id: s.GetId(), MaxBytes: 4, FromOffset: proto.Int64(11)})
	wantErr(t, err, codes.InvalidArgument, "INVALID_OFFSET")

	snd := ok[*sockdv1.SendResponse](t)(c.Send(ctx, &sockdv1.SendRequest{Id: s.GetId(), Payload: &sockdv1.SendRequest_Text{Text: "abc"}, All: true, Offset: proto.Int64(0)}))
	if snd.GetBytesSent() != 3 || snd.GetOffset() != 3 {
		t.Fatalf("send: %v", snd)
	}
	snd = ok[*sockdv1.SendResponse](t)(c.Send(ctx, &sockdv1.SendRequest{Id: s.GetId(), Payload: &sockdv1.SendRequest_Text{Text: "abcdef"}, All: true, Offset: proto.Int64(0)}))
	if snd.GetBytesSent() != 6 || snd.GetOffset() != 6 {
		t.Fatalf("retried, longer send: %v", snd)
	}
	_, err = c.Send(ctx, &sockdv1.SendRequest{Id: s.GetId(), Payload: &sockdv1.SendRequest_Text{Text: "z"}, Offset: proto.Int64(9)})
	wantErr(t, err, codes.InvalidArgument, "INVALID_OFFSET")
	buf := make([]byte, 6)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "abcdef" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
}

// An Attach stream killed mid-transfer and opened again at the client's
// own offsets loses and doubles nothing, both ways.
func TestAttachResumesAtOffsets(t *testing.T) {
	c := newClient(t, nil)
	ctx := ctxT(t)
	s, peer := connectedSocket(t, c)
	toClient := bytes.Repeat([]byte("downstream."), 50000) // 550 kB
	go peer.Write(toClient)

	open := func(recvOff, sendOff int64) (sockdv1.SocketService_AttachClient, *sockdv1.AttachResponse, context.CancelFunc) {
		sctx, cancel := context.WithCancel(ctx)
		st := ok[sockdv1.SocketService_AttachClient](t)(c.Attach(sctx))
		if err := st.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Open{Open: &sockdv1.AttachOpen{
			Id: s.GetId(), RecvOffset: proto.Int64(recvOff), SendOffset: proto.Int64(sendOff)}}}); err != nil {
			t.Fatal(err)
		}
		hello := ok[*sockdv1.AttachResponse](t)(st.Recv())
		if hello.GetSocket() == nil {
			t.Fatalf("first message: %v", hello)
		}
		return st, hello, cancel
	}
	var got []byte
	st, hello, cancel := open(0, 0)
	if hello.GetRecvOffset() != 0 || hello.GetSendOffset() != 0 {
		t.Fatalf("hello offsets: %v", hello)
	}
	// Take about half, acknowledging only part of it, then die.
	for len(got) < len(toClient)/2 {
		m := ok[*sockdv1.AttachResponse](t)(st.Recv())
		got = append(got, m.GetData()...)
	}
	keep := len(got) - 1000 // the client "lost" its last 1000 bytes
	got = got[:keep]
	if err := st.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Ack{Ack: int64(keep - 5000)}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: []byte("hello, ")}}); err != nil {
		t.Fatal(err)
	}
	// Wait for the write to be acknowledged, so the resume below overlaps it.
	for {
		m := ok[*sockdv1.AttachResponse](t)(st.Recv())
		got = append(got, m.GetData()...)
		if m.GetWritten() == 7 {
			break
		}
	}
	got = got[:keep]
	cancel()

	st, hello, cancel = open(int64(keep), 0) // resend everything from 0
	defer cancel()
	if hello.GetRecvOffset() != int64(keep) || hello.GetSendOffset() != 7 {
		t.Fatalf("resumed hello offsets: recv %d send %d", hello.GetRecvOffset(), hello.GetSendOffset())
	}
	if err := st.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: []byte("hello, world")}}); err != nil {
		t.Fatal(err)
	}
	for len(got) < len(toClient) {
		m := ok[*sockdv1.AttachResponse](t)(st.Recv())
		got = append(got, m.GetData()...)
		if m.GetData() != nil {
			st.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Ack{Ack: int64(len(got))}})
		}
	}
	if !bytes.Equal(got, toClient) {
		t.Fatalf("client got %d bytes, want %d; equal prefix %v", len(got), len(toClient), bytes.HasPrefix(toClient, got[:min(len(got), len(toClient))]))
	}
	buf := make([]byte, len("hello, world"))
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "hello, world" {
		t.Fatalf("peer read %q, %v (the resumed stream wrote a byte twice or lost one)", buf, err)
	}
	// A resume from an acknowledged offset is refused.
	sctx, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	bad := ok[sockdv1.SocketService_AttachClient](t)(c.Attach(sctx))
	bad.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Open{Open: &sockdv1.AttachOpen{Id: s.GetId(), RecvOffset: proto.Int64(0)}}})
	_, err := bad.Recv()
	wantErr(t, err, codes.FailedPrecondition, "OFFSET_UNAVAILABLE")
}
