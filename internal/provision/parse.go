package provision

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// Format is the encoding of an export.
type Format string

const (
	// CSV has a header row naming the columns; the delimiter is a comma,
	// a semicolon (spreadsheets in Indonesian locales) or a tab, whichever
	// the header uses.
	CSV Format = "csv"
	// JSONLines has one JSON object per line with the column names as
	// keys.
	JSONLines Format = "jsonl"
)

// FormatOf picks the format from a file name: .csv (and .tsv) is CSV,
// .jsonl and .ndjson are JSON lines.
func FormatOf(name string) (Format, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv", ".tsv", ".txt":
		return CSV, nil
	case ".jsonl", ".ndjson":
		return JSONLines, nil
	}
	return "", fmt.Errorf("cannot tell the format of %q from its extension; name it .csv or .jsonl, or pass --format", filepath.Base(name))
}

// ParseFormat accepts "csv" and "jsonl" (or "ndjson").
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "csv":
		return CSV, nil
	case "jsonl", "ndjson":
		return JSONLines, nil
	}
	return "", fmt.Errorf("unknown format %q (want csv or jsonl)", s)
}

// File is a parsed export: the valid records, sorted by NIP, and every bad
// row. An import goes ahead only when Errors is empty.
type File struct {
	Records []*Record
	Errors  []*RowError
}

// Problems with a file as a whole (as opposed to one of its rows).
var (
	ErrNoRows    = errors.New("the file has no data rows")
	ErrBadHeader = errors.New("bad header")
)

// maxLine bounds one JSON line or CSV header; a personnel record is a few
// hundred bytes.
const maxLine = 1 << 20

// Parse reads and validates every row. It returns an error only when the
// file as a whole is unusable (unreadable, bad header, no rows); bad rows
// are collected in File.Errors, each with its line, and a NIP listed twice
// is a bad row that names the first line.
func Parse(r io.Reader, format Format) (*File, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	// A byte order mark, as spreadsheet programs write, is not data.
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\xEF\xBB\xBF")) {
		br.Discard(3)
	}
	f := &File{}
	var err error
	switch format {
	case CSV:
		err = parseCSV(br, f)
	case JSONLines:
		err = parseJSONLines(br, f)
	default:
		err = fmt.Errorf("unknown format %q", format)
	}
	if err != nil {
		return nil, err
	}
	if len(f.Records) == 0 && len(f.Errors) == 0 {
		return nil, ErrNoRows
	}
	f.checkDuplicates()
	slices.SortFunc(f.Records, func(a, b *Record) int { return strings.Compare(a.NIP(), b.NIP()) })
	slices.SortFunc(f.Errors, func(a, b *RowError) int { return a.Line - b.Line })
	return f, nil
}

// checkDuplicates turns every later row of a NIP into an error naming the
// first: which of them is right cannot be guessed.
func (f *File) checkDuplicates() {
	first := make(map[string]int, len(f.Records))
	kept := f.Records[:0]
	for _, r := range f.Records {
		if line, ok := first[r.NIP()]; ok {
			f.Errors = append(f.Errors, &RowError{Line: r.Line, Field: "nip", Reason: fmt.Sprintf("the same NIP is on line %d", line)})
			continue
		}
		first[r.NIP()] = r.Line
		kept = append(kept, r)
	}
	f.Records = kept
}

func (f *File) add(line int, raw [numFields]string, has fieldSet) {
	rec, bad := validate(line, raw, has)
	if bad != nil {
		f.Errors = append(f.Errors, bad)
		return
	}
	f.Records = append(f.Records, rec)
}

func parseCSV(br *bufio.Reader, f *File) error {
	head, _ := br.Peek(maxLine)
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	cr := csv.NewReader(br)
	cr.Comma = delimiter(head)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return ErrNoRows
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadHeader, err)
	}
	columns, has, err := headerColumns(header)
	if err != nil {
		return err
	}
	cr.FieldsPerRecord = len(header)
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			f.Errors = append(f.Errors, &RowError{Line: pe.StartLine, Reason: csvReason(pe)})
			continue
		}
		if err != nil {
			return fmt.Errorf("read csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(row) == 1 && strings.TrimSpace(row[0]) == "" {
			continue // a blank line within a one-column file
		}
		var raw [numFields]string
		for i, col := range columns {
			raw[col] = row[i]
		}
		f.add(line, raw, has)
	}
}

// csvReason words a CSV syntax error for an operator.
func csvReason(pe *csv.ParseError) string {
	switch {
	case errors.Is(pe.Err, csv.ErrFieldCount):
		return "wrong number of columns"
	case errors.Is(pe.Err, csv.ErrQuote), errors.Is(pe.Err, csv.ErrBareQuote):
		return "badly quoted field"
	}
	return pe.Err.Error()
}

// delimiter is the candidate the header line uses most.
func delimiter(header []byte) rune {
	best, count := ',', 0
	for _, d := range []rune{',', ';', '\t'} {
		if n := bytes.Count(header, []byte(string(d))); n > count {
			best, count = d, n
		}
	}
	return best
}

// headerColumns maps each header cell to its column. Unknown, repeated
// and missing required columns are refused: a misspelt column would
// otherwise be ignored silently.
func headerColumns(header []string) ([]Field, fieldSet, error) {
	var has fieldSet
	cols := make([]Field, len(header))
	var errs []string
	for i, cell := range header {
		f, ok := fieldByName(cell)
		switch {
		case !ok:
			errs = append(errs, fmt.Sprintf("column %d %q is not one of %s (or name)", i+1, trimForMessage(strings.TrimSpace(cell)), strings.Join(names[:], ", ")))
		case has.has(f):
			errs = append(errs, fmt.Sprintf("column %d %q repeats %s", i+1, trimForMessage(strings.TrimSpace(cell)), f))
		default:
			has.add(f)
			cols[i] = f
		}
	}
	for f := range numFields {
		if f.required() && !has.has(f) {
			errs = append(errs, fmt.Sprintf("column %s is missing", f))
		}
	}
	if len(errs) > 0 {
		return nil, 0, fmt.Errorf("%w: %s", ErrBadHeader, strings.Join(errs, "; "))
	}
	return cols, has, nil
}

func parseJSONLines(br *bufio.Reader, f *File) error {
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		raw, has, reason := jsonRow(text)
		if reason != "" {
			f.Errors = append(f.Errors, &RowError{Line: line, Reason: reason})
			continue
		}
		f.add(line, raw, has)
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return fmt.Errorf("line %d is longer than %d bytes", line+1, maxLine)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read json lines: %w", err)
	}
	return nil
}

// jsonRow decodes one object whose values are all strings (a NIP written
// as a JSON number would already have lost digits). A key given twice is
// refused: which value was meant cannot be told.
func jsonRow(text []byte) ([numFields]string, fieldSet, string) {
	var raw [numFields]string
	var has fieldSet
	dec := json.NewDecoder(bytes.NewReader(text))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return raw, 0, "not a JSON object"
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return raw, 0, "not a JSON object"
		}
		key, _ := tok.(string)
		f, ok := fieldByName(key)
		if !ok {
			return raw, 0, fmt.Sprintf("key %q is not one of %s (or name)", trimForMessage(key), strings.Join(names[:], ", "))
		}
		if has.has(f) {
			return raw, 0, fmt.Sprintf("key %q repeats %s", trimForMessage(key), f)
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			return raw, 0, fmt.Sprintf("%s must be a JSON string", f)
		}
		raw[f] = v
		has.add(f)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return raw, 0, "not a JSON object"
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return raw, 0, "more than one JSON value on the line"
	}
	for f := range numFields {
		if f.required() && !has.has(f) {
			return raw, 0, fmt.Sprintf("%s is missing", f)
		}
	}
	return raw, has, ""
}

// trimForMessage keeps a file's text short in a message.
func trimForMessage(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
