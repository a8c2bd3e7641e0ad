package redis

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"strconv"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source"
)

// ExpiringSuffix names, in a snapshot's counts, how many keys of a logical
// database had a time to live: they may expire before a restore.
const ExpiringSuffix = backup.ExpiringSuffix

// crcTable is Redis's CRC-64 (Jones polynomial, reflected, no inversion).
var crcTable = crc64.MakeTable(0x95ac9329ac4bc9b5)

// Validate reads an RDB snapshot as it streams and returns nil only if it
// is whole: the magic and version, every opcode and value through the EOF
// opcode, and the CRC-64 of everything before the checksum (a server with
// rdbchecksum off writes zero, which is accepted and said). It counts the
// keys of each logical database ("db0", …) and those with a TTL.
func Validate(r io.Reader) (source.Report, error) {
	p := &rdb{r: bufio.NewReaderSize(r, 256<<10), crc: ^uint64(0), counts: backup.Counts{}, where: "the header"}
	if err := p.parse(); err != nil {
		return source.Report{}, err
	}
	return p.report(), nil
}

type rdb struct {
	r        *bufio.Reader
	crc      uint64 // Go's crc64 state: the complement of Redis's
	version  int
	where    string
	db       string
	keys     int64
	counts   backup.Counts
	checksum string
}

var errShort = errors.New("short")

func (p *rdb) early(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errShort) {
		return fmt.Errorf("dump ended early: inside %s, after %s keys", p.where, backup.Thousands(p.keys))
	}
	return err
}

func (p *rdb) damaged(format string, args ...any) error {
	return fmt.Errorf("dump is damaged: "+format+" (in %s)", append(args, p.where)...)
}

// take consumes n bytes, adding them to the checksum; keep returns them.
func (p *rdb) take(n int64, keep bool) ([]byte, error) {
	var out []byte
	for n > 0 {
		buf, err := p.r.Peek(int(min(n, int64(p.r.Size()))))
		if len(buf) == 0 {
			return nil, p.early(err)
		}
		p.crc = crc64.Update(p.crc, crcTable, buf)
		if keep {
			out = append(out, buf...)
		}
		p.r.Discard(len(buf))
		n -= int64(len(buf))
	}
	return out, nil
}

func (p *rdb) byte1() (byte, error) {
	b, err := p.take(1, true)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// length reads a length; special is set for the encoded-string forms.
func (p *rdb) length() (n uint64, special bool, err error) {
	b, err := p.byte1()
	if err != nil {
		return 0, false, err
	}
	switch b >> 6 {
	case 0:
		return uint64(b & 0x3f), false, nil
	case 1:
		b2, err := p.byte1()
		return uint64(b&0x3f)<<8 | uint64(b2), false, err
	case 3:
		return uint64(b & 0x3f), true, nil
	}
	switch b {
	case 0x80:
		v, err := p.take(4, true)
		if err != nil {
			return 0, false, err
		}
		return uint64(binary.BigEndian.Uint32(v)), false, nil
	case 0x81:
		v, err := p.take(8, true)
		if err != nil {
			return 0, false, err
		}
		return binary.BigEndian.Uint64(v), false, nil
	}
	return 0, false, p.damaged("length encoding 0x%02x", b)
}

// count reads a length that counts elements, within reason.
func (p *rdb) count() (uint64, error) {
	n, special, err := p.length()
	if err == nil && (special || n > 1<<40) {
		err = p.damaged("an element count of %d", n)
	}
	return n, err
}

// str skips a string in any of its encodings.
func (p *rdb) str() error {
	n, special, err := p.length()
	if err != nil {
		return err
	}
	if special {
		switch n {
		case 0, 1, 2:
			_, err = p.take(1<<n, false) // int8, int16, int32
		case 3: // LZF: compressed length, plain length, compressed bytes
			var clen uint64
			if clen, _, err = p.length(); err == nil {
				if _, _, err = p.length(); err == nil {
					_, err = p.take(int64(clen), false)
				}
			}
		default:
			err = p.damaged("string encoding %d", n)
		}
		return err
	}
	if n > 1<<40 {
		return p.damaged("a string of %d bytes", n)
	}
	_, err = p.take(int64(n), false)
	return err
}

func (p *rdb) strs(n uint64) error {
	for ; n > 0; n-- {
		if err := p.str(); err != nil {
			return err
		}
	}
	return nil
}

func (p *rdb) lengths(n int) error {
	for ; n > 0; n-- {
		if _, _, err := p.length(); err != nil {
			return err
		}
	}
	return nil
}

func (p *rdb) parse() error {
	head, err := p.take(9, true)
	if err != nil {
		return err
	}
	if string(head[:5]) != "REDIS" {
		return errors.New("dump is damaged: it does not start with an RDB header (REDIS)")
	}
	if p.version, err = strconv.Atoi(string(head[5:])); err != nil || p.version < 1 || p.version > 12 {
		return fmt.Errorf("RDB version %q is not one this dbackup reads (1 to 12)", head[5:])
	}
	p.where, p.db = "database 0", "db0"
	var ttl bool
	for {
		op, err := p.byte1()
		if err != nil {
			return err
		}
		switch op {
		case 0xff: // EOF
			if err := p.end(); err != nil {
				return err
			}
			if n, _ := io.Copy(io.Discard, p.r); n > 0 {
				return fmt.Errorf("dump is damaged: %d bytes follow its end", n)
			}
			return nil
		case 0xfe: // SELECTDB
			n, _, err := p.length()
			if err != nil {
				return err
			}
			p.db, p.where = fmt.Sprintf("db%d", n), fmt.Sprintf("database %d", n)
			p.counts[p.db] += 0
		case 0xfd, 0xfc: // EXPIRETIME (seconds), EXPIRETIME_MS
			size := map[byte]int64{0xfd: 4, 0xfc: 8}[op]
			if _, err = p.take(size, false); err == nil {
				ttl = true
			}
		case 0xfb: // RESIZEDB
			err = p.lengths(2)
		case 0xfa: // AUX
			err = p.strs(2)
		case 0xf9: // FREQ
			_, err = p.take(1, false)
		case 0xf8: // IDLE
			err = p.lengths(1)
		case 0xf7: // MODULE_AUX: module id, when opcode, when, then the value
			if err = p.lengths(3); err == nil {
				err = p.moduleValue()
			}
		case 0xf5: // FUNCTION2: a library's code
			err = p.str()
		case 0xf4: // SLOT_INFO: slot, size, expires size
			err = p.lengths(3)
		default:
			if err = p.keyValue(op); err == nil {
				p.keys++
				p.counts[p.db]++
				if ttl {
					p.counts[p.db+ExpiringSuffix]++
				}
				ttl = false
			}
		}
		if err != nil {
			return err
		}
	}
}

// keyValue reads a key and its value of type t.
func (p *rdb) keyValue(t byte) error {
	if err := p.str(); err != nil {
		return err
	}
	switch t {
	case 0, 9, 10, 11, 12, 13, 16, 17, 20: // string, and the encodings kept as one string
		return p.str()
	case 1, 2: // list, set
		n, err := p.count()
		if err != nil {
			return err
		}
		return p.strs(n)
	case 3: // sorted set: member, score as a short string
		n, err := p.count()
		for ; err == nil && n > 0; n-- {
			if err = p.str(); err == nil {
				var l byte
				if l, err = p.byte1(); err == nil && l < 253 {
					_, err = p.take(int64(l), false)
				}
			}
		}
		return err
	case 4: // hash
		n, err := p.count()
		if err != nil {
			return err
		}
		return p.strs(2 * n)
	case 5: // sorted set 2: member, binary double
		n, err := p.count()
		for ; err == nil && n > 0; n-- {
			if err = p.str(); err == nil {
				_, err = p.take(8, false)
			}
		}
		return err
	case 7: // module 2: module id, then its self-describing value
		if err := p.lengths(1); err != nil {
			return err
		}
		return p.moduleValue()
	case 14: // quicklist of ziplists
		n, err := p.count()
		if err != nil {
			return err
		}
		return p.strs(n)
	case 18: // quicklist 2: container kind, listpack
		n, err := p.count()
		for ; err == nil && n > 0; n-- {
			if err = p.lengths(1); err == nil {
				err = p.str()
			}
		}
		return err
	case 15, 19, 21:
		return p.stream(t)
	}
	return p.damaged("value type %d is not one this dbackup reads", t)
}

// moduleValue reads a module value's opcodes up to their end.
func (p *rdb) moduleValue() error {
	for {
		op, _, err := p.length()
		if err != nil {
			return err
		}
		switch op {
		case 0: // EOF
			return nil
		case 1, 2: // signed, unsigned integer
			err = p.lengths(1)
		case 3: // float
			_, err = p.take(4, false)
		case 4: // double
			_, err = p.take(8, false)
		case 5: // string
			err = p.str()
		default:
			err = p.damaged("module opcode %d", op)
		}
		if err != nil {
			return err
		}
	}
}

// stream reads a stream of value type t (15, 19 or 21).
func (p *rdb) stream(t byte) error {
	nodes, err := p.count()
	if err != nil {
		return err
	}
	if err := p.strs(2 * nodes); err != nil { // node key, listpack
		return err
	}
	ids := 3 // length, last id
	if t >= 19 {
		ids += 5 // first id, max deleted id, entries added
	}
	if err := p.lengths(ids); err != nil {
		return err
	}
	groups, err := p.count()
	for ; err == nil && groups > 0; groups-- {
		if err = p.str(); err != nil { // name
			break
		}
		n := 2 // last id
		if t >= 19 {
			n++ // entries read
		}
		if err = p.lengths(n); err != nil {
			break
		}
		var pel uint64
		if pel, err = p.count(); err != nil {
			break
		}
		for ; err == nil && pel > 0; pel-- { // id, delivery time, delivery count
			if _, err = p.take(24, false); err == nil {
				err = p.lengths(1)
			}
		}
		var consumers uint64
		if err == nil {
			consumers, err = p.count()
		}
		for ; err == nil && consumers > 0; consumers-- {
			times := int64(8) // seen time
			if t >= 21 {
				times += 8 // active time
			}
			if err = p.str(); err == nil {
				if _, err = p.take(times, false); err == nil {
					var n uint64
					if n, err = p.count(); err == nil {
						_, err = p.take(16*int64(n), false)
					}
				}
			}
		}
	}
	return err
}

// end reads the checksum after the EOF opcode and what follows it.
func (p *rdb) end() error {
	p.where = "the checksum"
	if p.version < 5 {
		p.checksum = "none (RDB before version 5)"
		return nil
	}
	want := ^p.crc
	b, err := p.take(8, true)
	if err != nil {
		return err
	}
	switch got := binary.LittleEndian.Uint64(b); got {
	case 0:
		p.checksum = "not written by the server (rdbchecksum no)"
	case want:
		p.checksum = "CRC-64 verified"
	default:
		return fmt.Errorf("dump is damaged: its CRC-64 is %016x, the data's is %016x", got, want)
	}
	return nil
}

func (p *rdb) report() source.Report {
	dbs := 0
	for name := range p.counts {
		if len(name) > 2 && name[:2] == "db" && !isExpiring(name) {
			dbs++
		}
	}
	return source.Report{Counts: p.counts, Summary: fmt.Sprintf("RDB version %d whole through its EOF opcode, checksum %s: %s keys in %d databases",
		p.version, p.checksum, backup.Thousands(p.keys), dbs)}
}

func isExpiring(name string) bool {
	return len(name) > len(ExpiringSuffix) && name[len(name)-len(ExpiringSuffix):] == ExpiringSuffix
}
