package pipeline

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"
)

func TestFanoutAllReceiveEverything(t *testing.T) {
	t.Parallel()
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	got := make([]bytes.Buffer, 3)
	var cs []Consumer
	for i := range got {
		cs = append(cs, func(r io.Reader) error { _, err := io.Copy(&got[i], r); return err })
	}
	f := NewFanout(cs...)
	for p := data; len(p) > 0; {
		n := min(len(p), 10007)
		if _, err := f.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	for i, err := range f.Close() {
		if err != nil {
			t.Fatalf("consumer %d: %v", i, err)
		}
		if !bytes.Equal(got[i].Bytes(), data) {
			t.Fatalf("consumer %d got %d bytes, want %d", i, got[i].Len(), len(data))
		}
	}
}

func TestFanoutFailedConsumerIsDroppedOthersFinish(t *testing.T) {
	t.Parallel()
	var good bytes.Buffer
	boom := errors.New("disk full")
	f := NewFanout(
		func(r io.Reader) error { io.CopyN(io.Discard, r, 1<<20); return boom },
		func(r io.Reader) error { _, err := io.Copy(&good, r); return err },
	)
	data := make([]byte, 20<<20) // far more than the failed consumer's queue
	if _, err := f.Write(data); err != nil {
		t.Fatalf("write with one consumer left: %v", err)
	}
	errs := f.Close()
	if !errors.Is(errs[0], boom) || errs[1] != nil {
		t.Fatalf("results %v", errs)
	}
	if good.Len() != len(data) {
		t.Fatalf("good consumer got %d bytes, want %d", good.Len(), len(data))
	}
}

func TestFanoutAllFailedStopsProducer(t *testing.T) {
	t.Parallel()
	f := NewFanout(func(r io.Reader) error { return errors.New("unreachable") })
	time.Sleep(10 * time.Millisecond)
	if _, err := f.Write(make([]byte, 1<<20)); !errors.Is(err, ErrNoConsumers) {
		t.Fatalf("got %v, want ErrNoConsumers", err)
	}
	f.Abort(errors.New("stop"))
}

func TestFanoutAbortNeverLooksLikeEOF(t *testing.T) {
	t.Parallel()
	stop := errors.New("pg_dump killed")
	f := NewFanout(func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err })
	f.Write(make([]byte, 5<<20))
	errs := f.Abort(stop)
	if !errors.Is(errs[0], stop) {
		t.Fatalf("consumer saw %v, want the abort error", errs[0])
	}
}

func TestFanoutConsumerStoppingEarlyIsAFailure(t *testing.T) {
	t.Parallel()
	f := NewFanout(func(r io.Reader) error { io.CopyN(io.Discard, r, 10); return nil })
	f.Write(make([]byte, 1<<20))
	if errs := f.Close(); errs[0] == nil {
		t.Fatal("a consumer that stopped reading early counted as success")
	}
}
