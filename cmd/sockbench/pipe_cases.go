package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/client"
)

// pipeBytes is how much each path of the pipe cases moves.
const pipeBytes = 512 << 20

// pipeCases: 512 MiB from a pipe to a TCP sink, end to end, four ways in
// the same run: `head -c 512M /dev/zero | sockctl attach ID` (the CLI, a
// process of its own reading a pipe), the client library's Attach (a Conn
// written from memory, in this process), the library's Conn.ReadFrom of the
// same `head -c` output (in this process), and `head -c 512M /dev/zero |
// socat -u STDIN TCP4:SINK` (a relay with no sockd at all). Each is timed
// from its start until the sink has every byte.
func pipeCases(ctx context.Context, e *env) ([]result, error) {
	viaCLI, err := e.pipeThrough(ctx, func(sink string) (*exec.Cmd, error) {
		sock, err := e.c.Create(ctx, client.CreateOptions{Connect: sink})
		if err != nil {
			return nil, err
		}
		return headInto(fmt.Sprintf("%s --addr %s attach %s", e.o.sockctl, e.addr, sock.GetId())), nil
	})
	if err != nil {
		return nil, fmt.Errorf("sockctl attach: %w (build it with: go build -o bin/ ./cmd/sockctl)", err)
	}
	viaLibrary, err := e.pipeThrough(ctx, func(sink string) (*exec.Cmd, error) {
		return nil, e.throughLibrary(ctx, sink, func(conn *client.Conn) error {
			buf := make([]byte, 64<<10)
			for left := pipeBytes; left > 0; left -= len(buf) {
				if _, err := conn.Write(buf[:min(len(buf), left)]); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("library attach: %w", err)
	}
	// The library again, reading the same pipeline as sockctl does (head's
	// output, in this process): what sockctl adds to the library, with the
	// pipe and its writer costing both the same.
	viaLibraryPipe, err := e.pipeThrough(ctx, func(sink string) (*exec.Cmd, error) {
		head := exec.Command("head", "-c", strconv.Itoa(pipeBytes), "/dev/zero")
		head.Stderr = os.Stderr
		out, err := head.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := head.Start(); err != nil {
			return nil, err
		}
		if f, ok := out.(*os.File); ok { // the 1 MiB pipe sockctl asks for on its stdin
			_, _ = unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
		}
		err = e.throughLibrary(ctx, sink, func(conn *client.Conn) error {
			defer head.Wait()
			_, err := conn.ReadFrom(out)
			return err
		})
		if err != nil {
			head.Process.Kill()
			head.Wait()
		}
		return nil, err
	})
	if err != nil {
		return nil, fmt.Errorf("library attach from a pipe: %w", err)
	}
	viaSocat, err := e.pipeThrough(ctx, func(sink string) (*exec.Cmd, error) {
		return headInto("socat -u STDIN TCP4:" + sink), nil
	})
	if err != nil {
		return nil, fmt.Errorf("socat (apt-get install socat): %w", err)
	}
	note := "512 MiB from `head -c 512M /dev/zero |` into a TCP sink, timed to the last byte"
	return []result{
		{Case: "attach-pipe-sockctl-vs-library-pipe", Unit: "B/s", Sockd: viaCLI, Baseline: viaLibraryPipe, Against: "the client library's Attach reading the same pipeline", Ratio: viaCLI / viaLibraryPipe, Target: ">= 0.9", Note: note},
		{Case: "attach-pipe-sockctl-vs-library", Unit: "B/s", Sockd: viaCLI, Baseline: viaLibrary, Against: "the client library's Attach written from memory", Ratio: viaCLI / viaLibrary, Note: note + "; what the pipe costs: this baseline has no pipe, and no head sharing the machine, to pay for"},
		{Case: "attach-pipe-sockctl-vs-socat", Unit: "B/s", Sockd: viaCLI, Baseline: viaSocat, Against: "socat -u STDIN TCP4: relay", Ratio: viaCLI / viaSocat, Target: ">= 1", Note: note},
	}, nil
}

// throughLibrary starts a transfer through the client library into sink:
// send writes into a Conn on a socket connected to it, on a goroutine of
// its own; then the Conn shuts its write side down and detaches.
func (e *env) throughLibrary(ctx context.Context, sink string, send func(*client.Conn) error) error {
	sock, err := e.c.Create(ctx, client.CreateOptions{Connect: sink})
	if err != nil {
		return err
	}
	conn, err := e.c.Conn(ctx, sock.GetId())
	if err != nil {
		return err
	}
	go func() {
		if send(conn) == nil {
			conn.CloseWrite()
		}
		conn.Detach()
	}()
	return nil
}

// headInto is a shell pipeline from head -c into a command.
func headInto(command string) *exec.Cmd {
	cmd := exec.Command("bash", "-c", "head -c "+strconv.Itoa(pipeBytes)+" /dev/zero | "+command)
	cmd.Stderr = os.Stderr
	return cmd
}

// pipeThrough starts one path into a fresh sink (start returns the process
// to run, or nil when it started the transfer itself) and returns its rate:
// pipeBytes over the time until the sink had them all.
func (e *env) pipeThrough(ctx context.Context, start func(sink string) (*exec.Cmd, error)) (float64, error) {
	sink, err := newTCPSink()
	if err != nil {
		return 0, err
	}
	defer sink.close()
	begin := time.Now()
	cmd, err := start(sink.addr())
	if err != nil {
		return 0, err
	}
	if cmd != nil {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		defer cmd.Wait()
	}
	deadline := time.Now().Add(2 * time.Minute)
	for sink.bytes.Load() < pipeBytes {
		if time.Now().After(deadline) || ctx.Err() != nil {
			if cmd != nil {
				cmd.Process.Kill()
			}
			return 0, fmt.Errorf("the sink got %d of %d bytes", sink.bytes.Load(), pipeBytes)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return float64(pipeBytes) / time.Since(begin).Seconds(), nil
}
