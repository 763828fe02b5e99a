// Command load measures the reference server's authenticated throughput and
// p99 latency against a bare net/http handler that returns the same bytes, in
// the same run, on loopback: go run ./bench/load -c 50 -d 5s.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

type result struct {
	rps float64
	p50 time.Duration
	p99 time.Duration
}

// hammer sends GET url with tok from c workers for d and reports throughput.
func hammer(url, tok string, c int, d time.Duration) result {
	tr := &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c}
	client := &http.Client{Transport: tr}
	var mu sync.Mutex
	var lat []time.Duration
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					fmt.Fprintln(os.Stderr, "status", res.StatusCode)
					os.Exit(1)
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	tr.CloseIdleConnections()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		return result{}
	}
	return result{rps: float64(len(lat)) / d.Seconds(), p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}
}

func serve(h http.Handler) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(ln)
	return "http://" + ln.Addr().String(), func() { hs.Shutdown(context.Background()) }
}

func main() {
	conc := flag.Int("c", 50, "concurrent connections")
	dur := flag.Duration("d", 5*time.Second, "duration of each run")
	flag.Parse()

	dir, _ := os.MkdirTemp("", "codesync-load-")
	defer os.RemoveAll(dir)
	st, err := store.Open(filepath.Join(dir, "db.sqlite"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	// caps far above what loopback can do: this measures the server, not the limiter
	srv := server.New(server.Config{ProdRate: rate.Inf, DevRate: rate.Inf}, st)
	_, tok, err := srv.BootstrapDev(context.Background())
	if err != nil {
		panic(err)
	}
	url, stop := serve(srv.Handler())
	// the same bytes the server answers, for the bare handler
	req, _ := http.NewRequest("GET", url+"/v1/auth/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	bareURL, stopBare := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))

	// warm up both, then interleave: bare, server, bare, server
	hammer(bareURL, tok, *conc, time.Second)
	hammer(url+"/v1/auth/whoami", tok, *conc, time.Second)
	var bare, real []result
	for i := 0; i < 2; i++ {
		bare = append(bare, hammer(bareURL, tok, *conc, *dur))
		real = append(real, hammer(url+"/v1/auth/whoami", tok, *conc, *dur))
	}
	stop()
	stopBare()
	best := func(rs []result) result {
		b := rs[0]
		for _, r := range rs[1:] {
			if r.rps > b.rps {
				b = r
			}
		}
		return b
	}
	b, r := best(bare), best(real)
	fmt.Printf("| server throughput (GET /v1/auth/whoami, API key, %d conns) | %.0f req/s, p50 %s, p99 %s | bare handler %.0f req/s, p99 %s | %.0f%% |\n",
		*conc, r.rps, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), b.rps, b.p99.Round(10*time.Microsecond), 100*r.rps/b.rps)
}
