package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress draws a one-line progress bar (for stderr). A nil *Progress
// draws nothing, so scenarios report progress unconditionally.
type Progress struct {
	w io.Writer

	mu    sync.Mutex
	phase string
	last  time.Time
	drawn bool
}

// NewProgress draws on w; a nil w gives a nil (silent) Progress.
func NewProgress(w io.Writer) *Progress {
	if w == nil {
		return nil
	}
	return &Progress{w: w}
}

const barWidth = 30

// Phase starts a new phase: the previous line is finished.
func (p *Progress) Phase(name string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLocked()
	p.phase = name
	p.last = time.Time{}
	p.drawLocked(0, 0, "")
}

// Set shows done of total (total <= 0: no bar, just the count), at most
// ten times a second.
func (p *Progress) Set(done, total int64, detail string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.drawLocked(done, total, detail)
}

// Done finishes the current line.
func (p *Progress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLocked()
}

func (p *Progress) drawLocked(done, total int64, detail string) {
	p.last = time.Now()
	var bar string
	if total > 0 {
		f := min(max(float64(done)/float64(total), 0), 1)
		n := int(f * barWidth)
		bar = fmt.Sprintf("[%s%s] %3.0f%% ", strings.Repeat("#", n), strings.Repeat(".", barWidth-n), f*100)
	} else if done > 0 {
		bar = fmt.Sprintf("%d ", done)
	}
	// \r and a clear to the end of the line redraw in place.
	fmt.Fprintf(p.w, "\r\033[K%-28s %s%s", p.phase, bar, detail)
	p.drawn = true
}

func (p *Progress) endLocked() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
