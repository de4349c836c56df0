package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sockd/sockd/client"
)

// browser starts headless Chromium (Debian's, installed by
// scripts/test-deps.sh) with a profile of its own and the flags that keep
// it off the network: it talks to the sockd on loopback and nothing else.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := needCommand(t, "chromium", "apt-get install chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1500, 860),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// The first action starts the browser, which lives as long as the
	// context of that first call: no timeout on it (see chromedp.Run).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// do runs browser steps, each group within 30 seconds.
func do(t *testing.T, b context.Context, steps ...chromedp.Action[chromedp.Void]) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(b, 30*time.Second)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// waitJS waits until a JavaScript expression is true.
func waitJS(t *testing.T, b context.Context, expr string) error {
	t.Helper()
	_, err := chromedp.Run(b, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second)))
	return err
}

// stateIs waits until the socket's row shows state.
func stateIs(t *testing.T, b context.Context, id, state string) error {
	t.Helper()
	return waitJS(t, b, fmt.Sprintf(`(() => { const s = document.querySelector('tr[data-id=%q] td.state-cell span'); return !!s && s.textContent === %q; })()`, id, state))
}

// saveScreenshot writes a PNG under out/artifacts (CI keeps it), and, with
// -update, as the docs' screenshot too.
func saveScreenshot(t *testing.T, png []byte, name string) {
	t.Helper()
	dir := filepath.Join(repoRoot(), "out", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	if *updateGolden {
		if err := os.WriteFile(filepath.Join(repoRoot(), "docs", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The live view in a real browser: sockets created through the API appear
// with their state, change to CONNECTED when they connect, show their
// events in the detail, and disappear when they are closed.
func TestLiveViewInABrowser(t *testing.T) {
	d := startSockd(t)
	c := dialClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := browser(t)

	if err := do(t, b,
		chromedp.Navigate("http://"+d.HTTP+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#status[data-state="live"]`)),
	); err != nil {
		t.Fatal(err)
	}

	// A listener appears, LISTENING.
	l, err := c.Create(ctx, client.CreateOptions{Name: "web", Labels: map[string]string{"suite": "liveview"}, Bind: "127.0.0.1:0", Listen: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := stateIs(t, b, l.GetId(), "LISTENING"); err != nil {
		t.Fatalf("the listener did not appear as LISTENING: %v", err)
	}

	// A new socket appears CREATED, then turns CONNECTED.
	s, err := c.Create(ctx, client.CreateOptions{Name: "client"})
	if err != nil {
		t.Fatal(err)
	}
	if err := stateIs(t, b, s.GetId(), "CREATED"); err != nil {
		t.Fatalf("the new socket did not appear as CREATED: %v", err)
	}
	if _, err := c.Connect(ctx, s.GetId(), l.GetLocalAddress(), nil); err != nil {
		t.Fatal(err)
	}
	if err := stateIs(t, b, s.GetId(), "CONNECTED"); err != nil {
		t.Fatalf("the socket did not turn CONNECTED: %v", err)
	}
	a, err := c.Accept(ctx, l.GetId(), nil, "server-side")
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.Create(ctx, client.CreateOptions{UDP: true, Name: "udp", Bind: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, s.GetId(), []byte("hello, sockd"), true, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Recv(ctx, a.GetId(), client.RecvOptions{MaxBytes: 12, WaitAll: true}); err != nil {
		t.Fatal(err)
	}

	// The counters follow (the page refreshes them every few seconds), the
	// totals come from /metrics, and the detail shows the socket's events.
	for _, check := range []error{
		stateIs(t, b, a.GetId(), "CONNECTED"),
		stateIs(t, b, u.GetId(), "BOUND"),
		waitJS(t, b, fmt.Sprintf(`document.querySelector('tr[data-id=%q] td.out').textContent === "12"`, s.GetId())),
		waitJS(t, b, `document.getElementById('t-open').textContent === "4"`),
		// Ids and protocols as sockctl ls shows them.
		waitJS(t, b, fmt.Sprintf(`(() => { const c = document.querySelector('tr[data-id=%q]').children; return c[0].textContent === %q && c[0].title === %q && c[2].textContent === "tcp4"; })()`,
			s.GetId(), s.GetId()[:12], s.GetId())),
		waitJS(t, b, fmt.Sprintf(`document.querySelector('tr[data-id=%q]').children[2].textContent === "udp4"`, u.GetId())),
		do(t, b,
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-id=%q]`, s.GetId()))),
			chromedp.WaitVisible(chromedp.CSS(`#detail`)),
		),
	} {
		if check != nil {
			t.Fatalf("counters, totals or detail: %v", check)
		}
	}
	detail, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(`#detail-events`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"created", "connected"} {
		if !containsWord(detail, kind) {
			t.Errorf("the detail's events %q lack %q", detail, kind)
		}
	}
	png, err := chromedp.Run(b, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	saveScreenshot(t, png, "liveview.png")

	// Closed: the row goes.
	if _, err := c.CloseSocket(ctx, s.GetId()); err != nil {
		t.Fatal(err)
	}
	if err := do(t, b, chromedp.WaitNotPresent(chromedp.CSS(fmt.Sprintf(`tr[data-id=%q]`, s.GetId())))); err != nil {
		t.Fatalf("the closed socket's row stayed: %v", err)
	}
	rows, err := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll('#sockets tbody tr').length`))
	if err != nil {
		t.Fatal(err)
	}
	if rows != 3 {
		t.Fatalf("%d rows after the close, want the 3 sockets still open", rows)
	}
}

// With tokens configured the page asks for one, and with it shows the
// caller's sockets, live.
func TestLiveViewWithAToken(t *testing.T) {
	const token = "liveview-test-token-0123"
	d := startSockd(t, "--token-file", writeTokens(t, token+" alice"))
	c, err := client.Dial(d.GRPC, client.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := browser(t)

	if err := do(t, b,
		chromedp.Navigate("http://"+d.HTTP+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#status[data-state="unauthorized"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), token),
		chromedp.Click(chromedp.CSS(`#token-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#status[data-state="live"]`)),
	); err != nil {
		t.Fatalf("token flow: %v", err)
	}
	s, err := c.Create(ctx, client.CreateOptions{Bind: "127.0.0.1:0", Listen: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := stateIs(t, b, s.GetId(), "LISTENING"); err != nil {
		t.Fatalf("alice's listener did not appear: %v", err)
	}
}

func containsWord(s, w string) bool { return strings.Contains(s, w) }
