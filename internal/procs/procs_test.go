package procs

import (
	"runtime"
	"testing"
)

func TestWidenKeepsCPUs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	if CPUs() != before {
		t.Fatalf("CPUs() = %d before Widen, GOMAXPROCS is %d", CPUs(), before)
	}
	t.Setenv("GOMAXPROCS", "")
	Widen()
	if got := runtime.GOMAXPROCS(0); got != before+Headroom {
		t.Fatalf("GOMAXPROCS after Widen = %d, want %d", got, before+Headroom)
	}
	if CPUs() != before {
		t.Fatalf("CPUs() = %d after Widen, want %d", CPUs(), before)
	}
}

func TestWidenRespectsEnvironment(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	t.Setenv("GOMAXPROCS", "3")
	Widen()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("GOMAXPROCS set in the environment, yet Widen changed it from %d to %d", before, got)
	}
}
