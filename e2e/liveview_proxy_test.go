package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The live view shows a proxy with its connections and its faults, and
// follows their changes.
func TestLiveViewShowsProxies(t *testing.T) {
	d := startSockd(t)
	echo := startPython(t, pyMultiEcho)
	b := browser(t)
	if err := do(t, b,
		chromedp.Navigate("http://"+d.HTTP+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#status[data-state="live"]`)),
	); err != nil {
		t.Fatal(err)
	}
	_, p := curl(t, d, "POST", "/v1/proxies", map[string]any{"name": "web-proxy", "listenAddress": "127.0.0.1:0", "upstreamAddress": "127.0.0.1:" + echo.line(t),
		"faults": []any{map[string]any{"type": "FAULT_TYPE_LATENCY", "latency": map[string]any{"latency": "0.05s"}}}})
	row := fmt.Sprintf(`document.querySelector('#proxies tr[data-id=%q]')`, str(p, "id"))
	if err := waitJS(t, b, row+` !== null && !document.getElementById('proxies-pane').hidden`); err != nil {
		t.Fatalf("the proxy did not appear: %v", err)
	}
	c, err := net.Dial("tcp", str(p, "listenAddress"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("x"))
	c.Read(make([]byte, 1))
	// One connection, the fault applied to it; both legs in the sockets table.
	if err := waitJS(t, b, fmt.Sprintf(`(() => { const c = %s.children; return c[0].textContent === "web-proxy" && c[5].textContent === "1" && c[8].textContent.includes("latency_downstream") && c[8].textContent.includes("applied 1"); })()`, row)); err != nil {
		t.Fatalf("the proxy's connection and fault: %v", err)
	}
	// A fault removed: the row follows.
	curl(t, d, "DELETE", "/v1/proxies/web-proxy/faults/latency_downstream", nil)
	if err := waitJS(t, b, row+`.children[8].textContent === ""`); err != nil {
		t.Fatalf("the removed fault stayed: %v", err)
	}
	png, err := chromedp.Run(b, chromedp.CaptureScreenshot())
	if err == nil {
		saveScreenshot(t, png, "liveview-proxies.png")
	}
}
