package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

// TestExportIsStreamed runs the real CLI (this test binary re-executed as
// codesync-cli) against a real server holding 2,000 and then 20,000 keys with
// their events, and compares the CLI's peak RSS: an export held in memory would
// grow with it (20,000 keys with events are about 15 MB of JSON).
func TestExportIsStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds a large database")
	}
	rss := map[int]int64{}
	size := map[int]int64{}
	for _, n := range []int{2000, 20000} {
		st, err := store.Open(filepath.Join(t.TempDir(), "db.sqlite"))
		if err != nil {
			t.Fatal(err)
		}
		srv := server.New(server.Config{}, st)
		_, tok, err := srv.BootstrapDev(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Seed(context.Background(), 1, n, n*2, time.Now()); err != nil {
			t.Fatal(err)
		}
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		srv.SetIssuer("http://" + ln.Addr().String())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { srv.Serve(ctx, ln, nil); close(done) }()

		out := filepath.Join(t.TempDir(), "export.json")
		cmd := exec.Command(os.Args[0], "key", "audit-export", "--include-events", "--output-file", out)
		hwm := filepath.Join(t.TempDir(), "status")
		cmd.Env = append(os.Environ(), "CODESYNC_RUN_MAIN=1", "CODESYNC_REPORT_HWM="+hwm, "CODESYNC_SERVER=http://"+ln.Addr().String(), "CODESYNC_AUTH_TOKEN="+tok, "CODESYNC_CONFIG_DIR="+t.TempDir())
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		rss[n] = peakRSS(t, hwm)
		fi, _ := os.Stat(out)
		size[n] = fi.Size()
		cancel()
		<-done
		st.Close()
	}
	t.Logf("export of 2,000 keys: %d KiB, CLI peak RSS %d KiB; 20,000 keys: %d KiB, peak RSS %d KiB",
		size[2000]/1024, rss[2000], size[20000]/1024, rss[20000])
	grown := rss[20000] - rss[2000]
	if grown*1024 > (size[20000]-size[2000])/3 {
		t.Fatalf("CLI peak RSS grew by %d KiB for %d KiB more export: not streamed", grown, (size[20000]-size[2000])/1024)
	}
}

// peakRSS reads VmHWM (KiB) from a saved /proc/self/status.
func peakRSS(t *testing.T, path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skip("no /proc/self/status on this system")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	t.Skip("no VmHWM")
	return 0
}
