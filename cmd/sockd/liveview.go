package main

import (
	"embed"
	"io/fs"
	"net/http"
)

// The live view: one static page (no build step) that shows every socket
// the caller may see, updated from the event feed. It holds no data itself;
// everything it shows comes from the REST API and /metrics, with the
// caller's token, so it is served without one.
//
//go:embed liveview
var liveviewFiles embed.FS

// liveviewHeaders keep the page to its own origin: its scripts and styles
// come from here, it talks to nothing else, and no other site may frame it.
func liveviewHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// registerLiveview serves the page at / and its assets under /ui/.
func registerLiveview(mux *http.ServeMux) {
	files, err := fs.Sub(liveviewFiles, "liveview")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic(err)
	}
	assets := http.StripPrefix("/ui/", http.FileServerFS(files))
	mux.HandleFunc("GET /ui/", func(w http.ResponseWriter, r *http.Request) {
		liveviewHeaders(w.Header())
		assets.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		liveviewHeaders(w.Header())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(index)
	})
}
