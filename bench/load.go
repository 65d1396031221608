package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/conflux-atproto/conflux/pds"
	"github.com/conflux-atproto/conflux/pds/synth"
	"github.com/conflux-atproto/conflux/pds/synthhost"
)

// load is synthetic activity on hosts: one seeded synth driver per host,
// together writing at rate commits per second.
type load struct {
	drivers []*synth.Driver
	users   int
}

// startLoad starts users synthetic users per host writing rate commits/s
// in total, and waits until every user exists.
func startLoad(ctx context.Context, cl *cluster, hosts []*host, users int, rate float64, onCommit func(string, pds.CommitResult)) (*load, error) {
	l := &load{users: users * len(hosts)}
	for i, h := range hosts {
		d, err := synth.New(synth.Config{
			Host: synthhost.Host{PDS: h.pds, OnCommit: onCommit}, Users: users, Rate: rate / float64(len(hosts)),
			Seed: int64(i + 1), HandleDomain: h.name + ".test", Logger: cl.log.With("synth", h.name),
			LogEvery: time.Hour,
		})
		if err != nil {
			return nil, fmt.Errorf("bench: synthetic activity on %s: %w", h.name, err)
		}
		cl.run("synth "+h.name, d.Run, nil)
		l.drivers = append(l.drivers, d)
	}
	for {
		if err := cl.err(); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ready := 0
		for _, d := range l.drivers {
			ready += d.Stats().Users
		}
		if ready >= l.users {
			return l, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writes is the number of commits the drivers made so far.
func (l *load) writes() int64 {
	var n int64
	for _, d := range l.drivers {
		n += d.Stats().Writes
	}
	return n
}
