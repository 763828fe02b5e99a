// Command load measures one path of a running `codesync-cli server` (the real
// process, access log on, its own database) against a bare net/http handler
// that answers the same bytes, interleaved in the same run on loopback:
//
//	go run ./bench/load -server URL -path /v1/auth/whoami -token TOK -c 50 -d 5s -runs 5
//
// Every failed request (transport error or a status other than 200) is
// counted, on both sides, and any makes the command exit 1. With -tokens FILE
// each request uses the next token of the file (one per line), so the server's
// credential cache has not seen it (first use); a token used twice within
// -fresh is counted as a failure of the measure. Figures: the median of -runs
// runs with min–max. -min-ratio and -max-p99 are targets: a miss prints the
// reason and exits 2.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	rps    float64
	p50    time.Duration
	p99    time.Duration
	errors int64
}

// tokens hands out credentials: the same one, or the next of a list.
type tokens struct {
	one   string
	list  []string
	next  atomic.Int64
	mu    sync.Mutex
	last  []time.Time // when each list token was last used
	fresh time.Duration
	stale atomic.Int64 // list tokens reused within fresh
}

func (t *tokens) get() string {
	if t.list == nil {
		return t.one
	}
	i := int(t.next.Add(1)-1) % len(t.list)
	now := time.Now()
	t.mu.Lock()
	if !t.last[i].IsZero() && now.Sub(t.last[i]) < t.fresh {
		t.stale.Add(1)
	}
	t.last[i] = now
	t.mu.Unlock()
	return t.list[i]
}

// hammer sends GET url from c workers for d.
func hammer(url string, tok *tokens, c int, d time.Duration) result {
	tr := &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+tok.get())
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				_, err = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d %v", res.StatusCode, err))
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "load: %s: %d failed requests, first: %s\n", url, errs.Load(), e)
	}
	r := result{errors: errs.Load()}
	if len(lat) == 0 {
		return r
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r.rps = float64(len(lat)) / d.Seconds()
	r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	return r
}

func serve(h http.Handler) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(ln)
	return "http://" + ln.Addr().String(), func() { hs.Shutdown(context.Background()) }
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "load:", err)
	os.Exit(1)
}

// spread is the median of a measure over the runs, with its min and max.
type spread struct{ med, lo, hi float64 }

func over(rs []result, f func(result) float64) spread {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return spread{m, v[0], v[len(v)-1]}
}

func main() {
	base := flag.String("server", "", "base URL of the running server")
	path := flag.String("path", "/v1/auth/whoami", "path to GET")
	tok := flag.String("token", "", "bearer token (also fetches the bare handler's answer)")
	tokFile := flag.String("tokens", "", "file of tokens, one a line: each request uses the next (first use)")
	fresh := flag.Duration("fresh", 6*time.Second, "with -tokens: a token reused within this may be cached (the server caches for 5 s)")
	label := flag.String("label", "", "name of the measure in the table")
	conc := flag.Int("c", 50, "concurrent connections")
	dur := flag.Duration("d", 5*time.Second, "duration of each run")
	runs := flag.Int("runs", 5, "runs of each side, interleaved")
	minRatio := flag.Float64("min-ratio", 0, "target: median throughput at least this share of the bare handler's")
	maxP99 := flag.Duration("max-p99", 0, "target: median p99 below this")
	flag.Parse()
	if *base == "" || *tok == "" || *runs < 1 {
		fail(fmt.Errorf("-server and -token are required"))
	}
	url := strings.TrimRight(*base, "/") + *path

	real := &tokens{one: *tok}
	if *tokFile != "" {
		f, err := os.Open(*tokFile)
		if err != nil {
			fail(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if s := strings.TrimSpace(sc.Text()); s != "" {
				real.list = append(real.list, s)
			}
		}
		f.Close()
		if len(real.list) == 0 {
			fail(fmt.Errorf("%s holds no tokens", *tokFile))
		}
		real.last, real.fresh = make([]time.Time, len(real.list)), *fresh
	}

	// the bytes the server answers, for the bare handler
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+*tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fail(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		fail(fmt.Errorf("GET %s: %d %s", url, res.StatusCode, body))
	}
	ctype := res.Header.Get("Content-Type")
	bareURL, stopBare := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Write(body)
	}))
	defer stopBare()
	bareTok := &tokens{one: *tok}

	// warm up both (not with the first-use tokens), then interleave
	hammer(bareURL, bareTok, *conc, time.Second)
	hammer(url, &tokens{one: *tok}, *conc, time.Second)
	var bare, srv []result
	for i := 0; i < *runs; i++ {
		bare = append(bare, hammer(bareURL, bareTok, *conc, *dur))
		srv = append(srv, hammer(url, real, *conc, *dur))
	}
	var errs int64
	for _, r := range append(slices.Clone(bare), srv...) {
		errs += r.errors
	}
	rps := func(r result) float64 { return r.rps }
	p99 := func(r result) float64 { return float64(r.p99) / 1e6 }
	p50 := func(r result) float64 { return float64(r.p50) / 1e6 }
	s, b := over(srv, rps), over(bare, rps)
	sp99, sp50, bp99 := over(srv, p99), over(srv, p50), over(bare, p99)
	ratio := 0.0
	if b.med > 0 {
		ratio = s.med / b.med
	}
	name := *label
	if name == "" {
		name = "GET " + *path
	}
	fmt.Printf("| %s, %d conns, median of %d × %s | %.0f req/s (%.0f–%.0f), p50 %.2f ms, p99 %.2f ms (%.2f–%.2f) | bare handler %.0f req/s (%.0f–%.0f), p99 %.2f ms | %.0f%% |\n",
		name, *conc, *runs, *dur, s.med, s.lo, s.hi, sp50.med, sp99.med, sp99.lo, sp99.hi, b.med, b.lo, b.hi, bp99.med, 100*ratio)
	code := 0
	if errs > 0 {
		fmt.Fprintf(os.Stderr, "load: %s: %d failed requests\n", name, errs)
		code = 1
	}
	if n := real.stale.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "load: %s: %d requests reused a token within %s (too few tokens for a first-use measure)\n", name, n, *fresh)
		code = 1
	}
	if code == 0 && *minRatio > 0 && ratio < *minRatio {
		fmt.Fprintf(os.Stderr, "TARGET MISSED: %s: %.0f%% of the bare handler, target ≥ %.0f%%\n", name, 100*ratio, 100**minRatio)
		code = 2
	}
	if code != 1 && *maxP99 > 0 && sp99.med >= float64(*maxP99)/1e6 {
		fmt.Fprintf(os.Stderr, "TARGET MISSED: %s: p99 %.2f ms, target < %s\n", name, sp99.med, *maxP99)
		code = 2
	}
	os.Exit(code)
}
