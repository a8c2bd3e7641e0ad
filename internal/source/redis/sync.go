package redis

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// command encodes a RESP array of bulk strings.
func command(args ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.Bytes()
}

// readSnapshot reads the answer to SYNC: optional keep-alive newlines,
// then "$<length>" followed by that many bytes, or "$EOF:<40-byte mark>"
// followed by the snapshot and the mark (diskless replication). It writes
// the snapshot, and only the snapshot, to w.
func readSnapshot(r *bufio.Reader, w io.Writer) (int64, error) {
	var line string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("read SYNC answer: %w", err)
		}
		line = strings.TrimRight(l, "\r\n")
		if line != "" {
			break
		}
	}
	if strings.HasPrefix(line, "-") {
		return 0, fmt.Errorf("server refused SYNC: %s", line[1:])
	}
	if !strings.HasPrefix(line, "$") {
		return 0, fmt.Errorf("unexpected answer to SYNC: %q", line)
	}
	if mark, ok := strings.CutPrefix(line, "$EOF:"); ok {
		if len(mark) != 40 {
			return 0, fmt.Errorf("bad end mark in SYNC answer")
		}
		return copyUntilMark(r, w, []byte(mark))
	}
	n, err := strconv.ParseInt(line[1:], 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad snapshot length in %q", line)
	}
	copied, err := io.CopyN(w, r, n)
	if err != nil {
		return copied, fmt.Errorf("snapshot ended after %d of %d bytes: %w", copied, n, err)
	}
	return copied, nil
}

// copyUntilMark copies r to w up to (not including) mark, holding back the
// last len(mark) bytes until more data proves they are not the mark.
func copyUntilMark(r io.Reader, w io.Writer, mark []byte) (int64, error) {
	buf := make([]byte, 0, 64<<10)
	chunk := make([]byte, 64<<10)
	var total int64
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if i := bytes.Index(buf, mark); i >= 0 {
			k, werr := w.Write(buf[:i])
			return total + int64(k), werr
		}
		if keep := len(mark) - 1; len(buf) > keep {
			k, werr := w.Write(buf[:len(buf)-keep])
			total += int64(k)
			if werr != nil {
				return total, werr
			}
			buf = append(buf[:0], buf[len(buf)-keep:]...)
		}
		if err != nil {
			return total, fmt.Errorf("snapshot ended before its end mark: %w", err)
		}
	}
}
