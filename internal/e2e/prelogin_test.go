package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// peakRSS is a process's peak resident memory in MiB.
func peakRSS(t *testing.T, pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			return kb / 1024
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// Before login, nobody can make the server hold much memory: 60 concurrent
// wrong logins (each password check takes 19 MiB) and six 100 MB form
// posts leave its peak under 200 MB, and no more logins are judged than
// the limit allows.
func TestPreLoginCannotExhaustMemory(t *testing.T) {
	t.Parallel()
	e := env{"DBACKUP_DATA_DIR=" + t.TempDir()}
	e.run(t, "a long enough password\n", "user", "create", "-role", "admin", "-name", "admin", "-password-stdin")
	n := e.serve(t, "n1")
	var wg sync.WaitGroup
	statuses := make(chan int, 100)
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"name":"admin","password":"wrong password %d"}`, i)
			resp, err := http.Post(n.url+"/api/v1/auth/login", "application/json", strings.NewReader(body))
			if err != nil {
				statuses <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	big := bytes.Repeat([]byte("a"), 100<<20)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctype := "application/x-www-form-urlencoded"
			body := append([]byte("name=x&password="), big...)
			if i%2 == 0 {
				ctype = "multipart/form-data; boundary=XX"
				body = append(append([]byte("--XX\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n"), big...), "\r\n--XX--\r\n"...)
			}
			resp, err := http.Post(n.url+"/login", ctype, bytes.NewReader(body))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode < 400 {
					t.Errorf("a 100 MB login form: %d", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	close(statuses)
	judged := 0
	for s := range statuses {
		if s == http.StatusUnauthorized {
			judged++
		}
	}
	if judged > 5 {
		t.Fatalf("%d of 60 concurrent wrong logins were judged, limit 5", judged)
	}
	rss := peakRSS(t, n.cmd.Process.Pid)
	t.Logf("60 concurrent wrong logins: %d judged; peak RSS %d MiB", judged, rss)
	if rss > 200 {
		t.Fatalf("peak RSS %d MiB after the pre-login flood, want under 200", rss)
	}
}
