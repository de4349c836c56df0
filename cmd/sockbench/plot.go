package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// plotPNG draws throughput (MB/s, log scale) against chunk size (log scale)
// for sockd's Attach, the bare gRPC stream, direct TCP and socat.
func plotPNG(path string, points []throughput) error {
	const w, h = 900, 560
	const left, right, top, bottom = 90, 230, 50, 70
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	grey := color.RGBA{200, 200, 200, 255}
	black := color.RGBA{0, 0, 0, 255}

	series := []struct {
		name  string
		col   color.RGBA
		value func(throughput) float64
	}{
		{"sockd Attach", color.RGBA{220, 50, 47, 255}, func(t throughput) float64 { return t.sockd }},
		{"bare gRPC stream", color.RGBA{38, 139, 210, 255}, func(t throughput) float64 { return t.bare }},
		{"direct TCP", color.RGBA{133, 153, 0, 255}, func(t throughput) float64 { return t.direct }},
		{"socat -b 8192", color.RGBA{108, 113, 196, 255}, func(t throughput) float64 { return t.socatBps }},
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range points {
		for _, s := range series {
			if v := s.value(p) / 1e6; v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	lo, hi = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	xOf := func(i int) int { return left + i*(w-left-right)/max(1, len(points)-1) }
	yOf := func(mbs float64) int {
		f := (math.Log10(mbs) - math.Log10(lo)) / (math.Log10(hi) - math.Log10(lo))
		return h - bottom - int(f*float64(h-top-bottom))
	}
	// Grid and axes.
	for d := lo; d <= hi*1.0001; d *= 10 {
		y := yOf(d)
		hline(img, left, w-right, y, grey)
		text(img, 10, y+4, fmt.Sprintf("%g MB/s", d), black)
	}
	for i, p := range points {
		vline(img, xOf(i), top, h-bottom, grey)
		text(img, xOf(i)-20, h-bottom+20, sizeLabel(p.size), black)
	}
	hline(img, left, w-right, h-bottom, black)
	vline(img, left, top, h-bottom, black)
	text(img, left, 25, "Throughput against chunk size (loopback, one stream; higher is better)", black)
	text(img, (w-right)/2-20, h-20, "chunk size", black)
	// Series.
	for si, s := range series {
		var prev image.Point
		for i, p := range points {
			v := s.value(p) / 1e6
			if v <= 0 {
				continue
			}
			pt := image.Pt(xOf(i), yOf(v))
			if i > 0 && prev != (image.Point{}) {
				drawLine(img, prev, pt, s.col)
			}
			square(img, pt, s.col)
			prev = pt
		}
		ly := top + 20 + si*24
		hline(img, w-right+20, w-right+50, ly-4, s.col)
		hline(img, w-right+20, w-right+50, ly-3, s.col)
		text(img, w-right+58, ly, s.name, black)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return png.Encode(f, img)
}

func sizeLabel(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

func square(img *image.RGBA, p image.Point, c color.Color) {
	for dx := -3; dx <= 3; dx++ {
		for dy := -3; dy <= 3; dy++ {
			img.Set(p.X+dx, p.Y+dy, c)
		}
	}
}

// drawLine draws a two-pixel line (Bresenham).
func drawLine(img *image.RGBA, a, b image.Point, c color.Color) {
	dx, dy := abs(b.X-a.X), -abs(b.Y-a.Y)
	sx, sy := sign(b.X-a.X), sign(b.Y-a.Y)
	err := dx + dy
	for {
		img.Set(a.X, a.Y, c)
		img.Set(a.X, a.Y+1, c)
		if a == b {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			a.X += sx
		}
		if e2 <= dx {
			err += dx
			a.Y += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
