package mysql

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source"
)

// completion is the comment mariadb-dump and mysqldump end every whole
// dump with ("-- Dump completed on <date>", or without the date).
const completion = "-- Dump completed"

// Validate reads a mariadb-dump/mysqldump SQL dump as it streams and
// returns nil only if it is whole: the tool's header first, every
// statement complete (strings, comments and DELIMITER changes followed),
// and the completion line last with nothing after it. A dump cut at a
// statement boundary lacks the completion line. It counts the rows each
// table's INSERT statements carry.
func Validate(r io.Reader) (source.Report, error) {
	v := newSQLValidator()
	buf := make([]byte, 256<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if ferr := v.feed(buf[:n]); ferr != nil {
				return source.Report{}, ferr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return source.Report{}, err
		}
	}
	return v.finish()
}

type sqlState int

const (
	stNormal   sqlState = iota
	stQuote             // inside '…', "…" or `…`
	stQuoteEnd          // just after a closing quote: a doubled quote continues the string
	stLineComment
	stBlockComment
)

type sqlValidator struct {
	state   sqlState
	quote   byte
	escape  bool // a backslash inside a string escapes the next byte
	pending byte // '-' or '/' that may start a comment, '*' that may end one

	delim    []byte // the statement delimiter: ";" or what DELIMITER set
	matched  int    // bytes of delim matched so far
	lineHead []byte // the start of the current line, for DELIMITER and comments
	inStmt   bool
	head     []byte // the start of the current statement, outside comments
	depth    int    // parentheses outside strings
	groups   int64  // top-level parenthesized groups of this statement

	comment   []byte // the start of the current line comment
	header    bool   // the tool's header comment was the first comment
	comments  int
	completed bool // the completion line came
	after     int64
	view      string // the name of the last "structure for view" comment

	special [256]bool // bytes the normal state must look at

	tables   map[string]int64
	order    []string
	last     string // the last complete statement, for errors
	stmts    int64
	dataRows int64
}

func newSQLValidator() *sqlValidator {
	v := &sqlValidator{tables: map[string]int64{}}
	v.setDelimiter([]byte(";"))
	return v
}

func (v *sqlValidator) setDelimiter(d []byte) {
	if len(d) == 0 {
		d = []byte(";")
	}
	v.delim = d
	v.special = [256]bool{}
	for _, c := range []byte("'\"`()-/\n") {
		v.special[c] = true
	}
	v.special[d[0]] = true
}

const headCap = 320

func (v *sqlValidator) feed(p []byte) error {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if v.completed && v.state != stLineComment {
			if c != '\n' && c != ' ' && c != '\r' && c != '\t' {
				v.after += int64(len(p) - i)
				return fmt.Errorf("dump is damaged: %d bytes follow its completion line", v.after)
			}
			continue
		}
		switch v.state {
		case stQuote:
			// Jump to the next byte that can end or escape the string.
			if !v.escape {
				rest := p[i:]
				j := bytes.IndexByte(rest, v.quote)
				if v.quote != '`' {
					if j >= 0 {
						rest = rest[:j]
					}
					if k := bytes.IndexByte(rest, '\\'); k >= 0 {
						j = k
					}
				}
				if j < 0 {
					v.capture(p[i:])
					i = len(p) - 1
					continue
				}
				v.capture(p[i : i+j])
				i += j
				c = p[i]
			}
			v.capture(p[i : i+1])
			switch {
			case v.escape:
				v.escape = false
			case c == '\\' && v.quote != '`':
				v.escape = true
			case c == v.quote:
				v.state = stQuoteEnd
			}
			continue
		case stQuoteEnd:
			if c == v.quote { // a doubled quote: still inside
				v.capture(p[i : i+1])
				v.state = stQuote
				continue
			}
			v.state = stNormal
		case stLineComment:
			if c == '\n' {
				v.endComment()
				v.state = stNormal
				v.lineHead = v.lineHead[:0]
				continue
			}
			if len(v.comment) < 128 {
				v.comment = append(v.comment, c)
			}
			continue
		case stBlockComment:
			if v.pending == '*' && c == '/' {
				v.pending = 0
				v.state = stNormal
				continue
			}
			v.pending = 0
			if j := bytes.IndexByte(p[i:], '*'); j < 0 {
				i = len(p) - 1
			} else {
				i += j
				v.pending = '*'
			}
			continue
		}
		// Normal: statements, and what may start a string or a comment.
		// Inside a statement whose start is known, skip to the next byte
		// that matters.
		if v.pending == 0 && v.inStmt && v.matched == 0 && len(v.head) >= headCap {
			if j, handled := v.skim(p, i); handled {
				i = j
				continue
			}
		}
		if v.pending != 0 {
			prev := v.pending
			v.pending = 0
			switch {
			case prev == '-' && c == '-':
				v.state, v.comment = stLineComment, append(v.comment[:0], "--"...)
				continue
			case prev == '/' && c == '*':
				v.state = stBlockComment
				continue
			}
			v.normal(prev)
		}
		if (c == '-' || c == '/') && !v.inDelimiterLine() {
			v.pending = c
			continue
		}
		v.normal(c)
	}
	return nil
}

// skim runs through the body of a statement whose start is known (rows of
// an INSERT, mostly): parentheses, newlines and the start of a string are
// handled here; it returns the index of the last byte it handled, or false
// when p[i] needs the full machine (a delimiter, a comment's start).
func (v *sqlValidator) skim(p []byte, i int) (int, bool) {
	start := i
	for ; i < len(p); i++ {
		c := p[i]
		if !v.special[c] {
			continue
		}
		switch c {
		case '(':
			if v.depth == 0 {
				v.groups++
			}
			v.depth++
		case ')':
			v.depth--
		case '\n':
			v.lineHead = v.lineHead[:0]
		case '\'', '"', '`':
			v.state, v.quote = stQuote, c
			return i, true
		default:
			return i - 1, i > start
		}
	}
	return len(p) - 1, true
}

// inDelimiterLine tells whether the line is a DELIMITER command, whose
// argument is not SQL.
func (v *sqlValidator) inDelimiterLine() bool {
	return len(v.lineHead) >= 10 && strings.EqualFold(string(v.lineHead[:10]), "DELIMITER ")
}

// normal handles one byte outside strings and comments.
func (v *sqlValidator) normal(c byte) {
	if len(v.lineHead) < 64 && !(len(v.lineHead) == 0 && (c == ' ' || c == '\t')) {
		v.lineHead = append(v.lineHead, c)
	}
	if c == '\n' {
		if v.inDelimiterLine() {
			v.setDelimiter(bytes.TrimSpace(append([]byte(nil), v.lineHead[10:]...)))
			v.inStmt, v.head, v.matched = false, v.head[:0], 0
		}
		v.lineHead = v.lineHead[:0]
	}
	if !v.inStmt {
		if c == ' ' || c == '\n' || c == '\r' || c == '\t' {
			return
		}
		v.inStmt, v.head, v.depth, v.groups, v.matched = true, v.head[:0], 0, 0, 0
	}
	if len(v.head) < headCap {
		v.head = append(v.head, c)
	}
	if v.inDelimiterLine() {
		return
	}
	switch c {
	case '\'', '"', '`':
		v.state, v.quote, v.matched = stQuote, c, 0
		return
	case '(':
		if v.depth == 0 {
			v.groups++
		}
		v.depth++
	case ')':
		v.depth--
	}
	if c == v.delim[v.matched] {
		v.matched++
		if v.matched == len(v.delim) {
			v.endStatement()
		}
	} else if c == v.delim[0] {
		v.matched = 1
	} else {
		v.matched = 0
	}
}

func (v *sqlValidator) capture(b []byte) {
	if v.inStmt && len(v.head) < headCap {
		v.head = append(v.head, b[:min(len(b), headCap-len(v.head))]...)
	}
}

func (v *sqlValidator) endComment() {
	v.comments++
	text := string(v.comment)
	if v.comments == 1 {
		v.header = strings.HasPrefix(text, "-- MariaDB dump") || strings.HasPrefix(text, "-- MySQL dump")
	}
	if strings.HasPrefix(text, completion) && !v.inStmt {
		v.completed = true
	}
	for _, p := range []string{"-- Temporary table structure for view `", "-- Temporary view structure for view `", "-- Final view structure for view `"} {
		if strings.HasPrefix(text, p) {
			v.view, _ = identifier(text[len(p)-1:])
		}
	}
	v.comment = v.comment[:0]
}

// endStatement classifies the statement just ended by its first words.
func (v *sqlValidator) endStatement() {
	v.inStmt, v.matched = false, 0
	v.stmts++
	words := strings.Fields(strings.ToUpper(string(v.head[:min(len(v.head), 40)])))
	rest := string(v.head)
	switch {
	case len(words) >= 3 && words[0] == "CREATE" && words[1] == "TABLE":
		name, ok := identifier(afterWords(rest, 2))
		if ok && name != v.view {
			if _, seen := v.tables[name]; !seen {
				v.order = append(v.order, name)
			}
			v.tables[name] = 0
		}
	case len(words) >= 3 && (words[0] == "INSERT" || words[0] == "REPLACE"):
		n := 2 // INSERT INTO / REPLACE INTO
		if words[1] == "IGNORE" {
			n = 3
		}
		if words[0] == "REPLACE" && words[1] != "INTO" {
			n = 1
		}
		name, ok := identifier(afterWords(rest, n))
		if !ok {
			break
		}
		rows := v.groups
		if strings.HasPrefix(strings.TrimSpace(afterIdentifier(afterWords(rest, n))), "(") {
			rows-- // the column list of --complete-insert
		}
		if _, seen := v.tables[name]; !seen {
			v.order = append(v.order, name)
		}
		v.tables[name] += rows
		v.dataRows += rows
	}
	v.last = strings.Join(strings.Fields(string(v.head[:min(len(v.head), 60)])), " ")
}

// afterWords returns s after its first n whitespace-separated words.
func afterWords(s string, n int) string {
	for ; n > 0; n-- {
		s = strings.TrimLeft(s, " \t\r\n")
		i := strings.IndexAny(s, " \t\r\n`")
		if i < 0 {
			return ""
		}
		s = s[i:]
	}
	return strings.TrimLeft(s, " \t\r\n")
}

// identifier reads a backquoted identifier at the start of s.
func identifier(s string) (string, bool) {
	if !strings.HasPrefix(s, "`") {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] == '`' {
			if i+1 < len(s) && s[i+1] == '`' {
				b.WriteByte('`')
				i++
				continue
			}
			return b.String(), true
		}
		b.WriteByte(s[i])
	}
	return "", false
}

func afterIdentifier(s string) string {
	for i := 1; i < len(s); i++ {
		if s[i] == '`' {
			if i+1 < len(s) && s[i+1] == '`' {
				i++
				continue
			}
			return s[i+1:]
		}
	}
	return ""
}

func (v *sqlValidator) finish() (source.Report, error) {
	if v.pending == '-' || v.pending == '/' {
		v.normal(v.pending)
	}
	// A line comment still open at the end, the completion line too, was
	// cut: the tool ends every line.
	switch {
	case v.comments == 0 && v.stmts == 0:
		return source.Report{}, errors.New("dump ended early: it holds no statement")
	case !v.header:
		return source.Report{}, errors.New("dump is damaged: it does not start with the header of mariadb-dump or mysqldump")
	case !v.completed:
		where := "in the middle of a statement"
		if v.state == stQuote {
			where = "inside a string"
		} else if !v.inStmt {
			where = "at a statement boundary"
		}
		last := "no statement"
		if v.last != "" {
			last = fmt.Sprintf("%q", v.last)
		}
		return source.Report{}, fmt.Errorf("dump ended early: the completion line (%q) is missing; the dump stops %s, after %d statements (the last complete one: %s)",
			completion, where, v.stmts, last)
	}
	counts := backup.Counts{}
	for _, t := range v.order {
		counts[t] = v.tables[t]
	}
	return source.Report{Counts: counts, Summary: fmt.Sprintf("SQL dump ends with its completion line: %d statements, %s", v.stmts, counts.Summary("table", "rows"))}, nil
}
