package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// serveGoRelay is the Go relay baseline: a process of its own that listens
// on a loopback port, prints it, and relays every connection to upstream
// with io.Copy between two *net.TCPConn both ways — which Go does with
// splice(2), as sockd's relay does with no fault. With concurrent, each
// direction is concurrentSplice instead. It serves until killed.
func serveGoRelay(upstream string, concurrent bool) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(l.Addr().String())
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp4", upstream)
			if err != nil {
				return
			}
			defer u.Close()
			relay := func(dst, src net.Conn) {
				if concurrent {
					concurrentSplice(dst.(*net.TCPConn), src.(*net.TCPConn))
				} else {
					io.Copy(dst, src)
				}
				dst.(*net.TCPConn).CloseWrite()
			}
			done := make(chan struct{})
			go func() {
				relay(c, u)
				close(done)
			}()
			relay(u, c)
			<-done
		}()
	}
}

// goRelay is a running Go relay process.
type goRelay struct {
	cmd  *exec.Cmd
	addr string
}

// startGoRelay runs this binary's -serve-relay in front of upstream.
func startGoRelay(upstream string, concurrent bool) (*goRelay, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-serve-relay", upstream, fmt.Sprintf("-serve-relay-concurrent=%v", concurrent))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop(cmd)
		return nil, fmt.Errorf("go relay: %w", err)
	}
	return &goRelay{cmd: cmd, addr: strings.TrimSpace(line)}, nil
}

func (g *goRelay) close() { stop(g.cmd) }

// concurrentSplice relays src to dst through a pipe with two goroutines,
// one splicing the socket into the pipe while the other splices the pipe
// into the socket, so that reading and writing overlap (sockd's relay and
// Go's io.Copy do one after the other). The pipe is blocking, the sockets
// are not: a full pipe blocks the reader's thread in the kernel and an
// empty one the writer's, while an empty source or a full destination
// waits in Go's poller. A measurement of what overlapping would give, not a
// relay to use: it cannot be interrupted, and it ends only at EOF.
func concurrentSplice(dst, src *net.TCPConn) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	unix.FcntlInt(uintptr(p[0]), unix.F_SETPIPE_SZ, 1<<20)
	defer unix.Close(p[0])
	rsrc, err := src.SyscallConn()
	if err != nil {
		unix.Close(p[1])
		return err
	}
	wdst, err := dst.SyscallConn()
	if err != nil {
		unix.Close(p[1])
		return err
	}
	done := make(chan error, 1)
	go func() { // socket → pipe; closing the pipe's write end is the EOF
		defer unix.Close(p[1])
		var serr error
		err := rsrc.Read(func(fd uintptr) bool {
			for {
				n, err := unix.Splice(int(fd), nil, p[1], nil, 1<<20, unix.SPLICE_F_MOVE)
				switch {
				case err == unix.EINTR:
					continue
				case err == unix.EAGAIN:
					return false
				case err != nil:
					serr = err
					return true
				case n == 0:
					return true
				}
			}
		})
		done <- errors.Join(err, serr)
	}()
	var werr error
	for werr == nil {
		// Block in the kernel until the pipe holds something (or is closed).
		var n int64
		err := wdst.Write(func(fd uintptr) bool {
			for {
				m, err := unix.Splice(p[0], nil, int(fd), nil, 1<<20, unix.SPLICE_F_MOVE)
				switch {
				case err == unix.EINTR:
					continue
				case err == unix.EAGAIN:
					return false
				case err != nil:
					werr = err
					return true
				}
				n = m
				return true
			}
		})
		if err != nil {
			werr = err
		}
		if n == 0 && werr == nil {
			break // the pipe is closed and empty: EOF
		}
	}
	return errors.Join(werr, <-done)
}
