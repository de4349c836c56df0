package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// toxiproxyModule is the toxiproxy server the proxy cases compare with:
// built from the Go module proxy at run time into a temporary directory,
// never kept in the repository.
const toxiproxyModule = "github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0"

// toxiproxy is a running toxiproxy server and its HTTP API.
type toxiproxy struct {
	cmd *exec.Cmd
	api string // http://127.0.0.1:PORT
	dir string // the temporary directory of its binary
}

var (
	toxiOnce sync.Once
	toxiBin  string
	toxiErr  error
)

// toxiproxyBinary builds toxiproxy's server once per sockbench run
// (`go install` with GOBIN in a temporary directory; the module cache makes
// a second run take seconds).
func toxiproxyBinary() (string, error) {
	toxiOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sockbench-toxiproxy-")
		if err != nil {
			toxiErr = err
			return
		}
		cmd := exec.Command("go", "install", toxiproxyModule)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			toxiErr = fmt.Errorf("go install %s: %w\n%s", toxiproxyModule, err, out)
			return
		}
		toxiBin = filepath.Join(dir, "server")
	})
	return toxiBin, toxiErr
}

// removeToxiproxyBinary deletes the temporary build (at the end of the run).
func removeToxiproxyBinary() {
	if toxiBin != "" {
		os.RemoveAll(filepath.Dir(toxiBin))
	}
}

// startToxiproxy runs toxiproxy's server on a free loopback port with its
// log at warn, as sockd runs (toxiproxy logs every connection at info).
func startToxiproxy(ctx context.Context) (*toxiproxy, error) {
	bin, err := toxiproxyBinary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	t := &toxiproxy{api: "http://127.0.0.1:" + port}
	t.cmd = exec.Command(bin, "-host", "127.0.0.1", "-port", port)
	t.cmd.Env = append(os.Environ(), "LOG_LEVEL=warn")
	t.cmd.Stderr = os.Stderr
	if err := t.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := t.call(ctx, "GET", "/version", nil, nil); err == nil {
			return t, nil
		} else if time.Now().After(deadline) || ctx.Err() != nil {
			t.close()
			return nil, fmt.Errorf("toxiproxy did not answer: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (t *toxiproxy) close() { stop(t.cmd) }

// toxiProxy is toxiproxy's JSON for a proxy.
type toxiProxy struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Enabled  bool   `json:"enabled"`
}

// createProxy makes a proxy listening on a kernel-given loopback port and
// returns the address it listens on.
func (t *toxiproxy) createProxy(ctx context.Context, name, upstream string) (string, error) {
	var p toxiProxy
	err := t.call(ctx, "POST", "/proxies", toxiProxy{Name: name, Listen: "127.0.0.1:0", Upstream: upstream, Enabled: true}, &p)
	return p.Listen, err
}

func (t *toxiproxy) deleteProxy(ctx context.Context, name string) error {
	return t.call(ctx, "DELETE", "/proxies/"+name, nil, nil)
}

// call makes one request of toxiproxy's API with a JSON body and answer.
func (t *toxiproxy) call(ctx context.Context, method, path string, body, answer any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, method, t.api+path, r)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("toxiproxy %s %s: %s: %s", method, path, resp.Status, b)
	}
	if answer != nil && len(b) > 0 {
		return json.Unmarshal(b, answer)
	}
	return nil
}
