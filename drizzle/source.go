package drizzle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

// Layout is the shape of a migrations folder.
type Layout string

const (
	// LayoutNone: the folder is missing, or holds no migrations.
	LayoutNone Layout = "none"
	// LayoutJournal: drizzle-kit 0.x, meta/_journal.json plus <tag>.sql.
	LayoutJournal Layout = "journal"
	// LayoutJournalFolders: a journal whose tags name folders holding
	// migration.sql (the layout the Mana monorepo documents).
	LayoutJournalFolders Layout = "journal-folders"
	// LayoutFolders: drizzle-kit 1.x, no journal, <YYYYMMDDhhmmss>_<name>/migration.sql.
	LayoutFolders Layout = "folders"
)

// ByName reports whether migrations of this layout are matched to the
// migrations table by name (drizzle-orm 1.0) rather than by created_at
// (drizzle-orm 0.x).
func (l Layout) ByName() bool { return l == LayoutFolders }

// Migration is one migration as drizzle-orm sees it.
type Migration struct {
	// Tag is the journal tag, or the folder name for LayoutFolders (which
	// drizzle-orm 1.0 stores in the name column).
	Tag string
	// File is the migration's path relative to the folder, with slashes.
	File string
	// CreatedAt is the journal's "when", or the folder timestamp in UTC
	// milliseconds: what drizzle-orm stores in created_at.
	CreatedAt int64
	// Hash is what drizzle-orm stores in hash.
	Hash string
	// Text is the file as drizzle-orm reads it.
	Text       string
	Statements []Statement
	// Line is the journal line of the entry (0 for folders).
	Line int

	noTxOnce sync.Once
	noTx     string
	txOnce   sync.Once
	tx       *txFacts
}

// Source is a loaded migrations folder.
type Source struct {
	Dir        string
	Layout     Layout
	Migrations []*Migration
	Warnings   []Warning
}

// Path joins the folder and a path inside it, for messages.
func (s *Source) Path(rel string) string { return filepath.Join(s.Dir, filepath.FromSlash(rel)) }

const journalPath = "meta/_journal.json"

// Load reads the migrations folder dir, whichever layout it has. A folder
// that does not exist is an *InputError (a typo or a wrong working directory
// is not "up to date"); an existing folder with no migrations yields
// LayoutNone. Every problem with the files is an *InputError.
//
// Files are read through an os.Root, so neither a journal tag nor a symlink
// can make upshift read outside dir.
func Load(dir string) (*Source, error) {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &InputError{Path: dir, Msg: "the migrations folder does not exist", Hint: "name the folder drizzle-kit writes migrations to (\"out\" in drizzle.config.ts); relative paths start in " + workingDir(), Options: []string{"dir"}}
	}
	if err != nil {
		return nil, &InputError{Path: dir, Msg: "cannot read the migrations folder", Err: err}
	}
	if !st.IsDir() {
		return nil, &InputError{Path: dir, Msg: "is not a folder", Hint: "name the folder drizzle-kit writes migrations to (\"out\" in drizzle.config.ts)", Options: []string{"dir"}}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, &InputError{Path: dir, Msg: "cannot open the migrations folder", Err: err}
	}
	defer root.Close()
	return load(root.FS(), dir, dir)
}

func workingDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "the working directory"
	}
	return wd
}

// LoadFS reads migrations from fsys; dir is only used in messages.
func LoadFS(fsys fs.FS, dir string) (*Source, error) { return load(fsys, dir, "") }

// load reads through fsys. With osDir set (the same folder as fsys, on
// disk), files directly in it are read with plain system calls (see
// readPlain): the os.Root path costs several system calls more per file,
// which adds up over a thousand migrations on every deploy.
func load(fsys fs.FS, dir, osDir string) (*Source, error) {
	s := &Source{Dir: dir}
	l := loader{fsys: fsys, src: s, osDir: osDir}
	if osDir != "" {
		l.plain = openPlainDir(osDir)
		defer l.plain.Close()
	}
	data, err := fs.ReadFile(fsys, journalPath)
	switch {
	case err == nil:
		if err := l.journal(data); err != nil {
			return nil, err
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := l.folders(); err != nil {
			return nil, err
		}
	default:
		return nil, l.fileErr(journalPath, "", "cannot read the journal", err)
	}
	if len(s.Migrations) == 0 {
		s.Layout = LayoutNone
	}
	return s, nil
}

type loader struct {
	fsys  fs.FS
	src   *Source
	osDir string
	plain *plainDir // osDir opened for readPlain; nil without osDir
}

func (l *loader) readFile(name string) ([]byte, error) {
	if l.plain != nil && !strings.Contains(name, "/") {
		b, ok, err := readPlain(l.plain, name)
		if ok || err != nil {
			return b, err
		}
	}
	return fs.ReadFile(l.fsys, name)
}

func (l *loader) fileErr(rel, tag, msg string, err error) *InputError {
	e := &InputError{Path: l.src.Path(rel), Tag: tag, Msg: msg, Err: err}
	if isEscape(err) {
		e.Msg = "the file is a symlink (or path) that leads outside the migrations folder"
		e.Err = nil
		e.Hint = "migrations must live inside the folder; copy the file in instead of linking it"
	}
	return e
}

// isEscape recognises os.Root refusing a path that leaves the root. The
// error has no exported sentinel, so the text is the only thing to go on.
func isEscape(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

func (l *loader) journal(data []byte) error {
	j, err := parseJournal(data)
	if err != nil {
		var pe *journalError
		if errors.As(err, &pe) {
			line, col := lineColBytes(data, pe.offset)
			return &InputError{Path: l.src.Path(journalPath), Line: line, Column: col, Msg: pe.msg, Hint: pe.hint}
		}
		return &InputError{Path: l.src.Path(journalPath), Msg: "cannot parse the journal", Err: err}
	}
	jp := l.src.Path(journalPath)
	if j.Dialect != "postgresql" && j.Dialect != "pg" {
		return &InputError{Path: jp, Line: j.dialectLine, Msg: fmt.Sprintf("dialect %q is not supported; upshift migrates PostgreSQL only", j.Dialect),
			Hint: "set dialect: \"postgresql\" in drizzle.config.ts and regenerate, or name the folder of the PostgreSQL migrations", Options: []string{"dir"}}
	}
	seenTag := make(map[string]int, len(j.Entries))
	seenIdx := make(map[int]int, len(j.Entries))
	layouts := map[Layout]bool{}
	referenced := make(map[string]bool, len(j.Entries))
	var prevWhen int64
	for i, e := range j.Entries {
		if e.Tag == "" {
			return &InputError{Path: jp, Line: e.line, Msg: fmt.Sprintf("entry %d has no tag", i), Hint: "restore the entry from version control or regenerate the journal with drizzle-kit"}
		}
		if prev, ok := seenTag[e.Tag]; ok {
			return &InputError{Path: jp, Line: e.line, Tag: e.Tag, Msg: fmt.Sprintf("duplicate tag (first at line %d)", prev), Hint: "remove the duplicate entry; two branches probably both added it"}
		}
		seenTag[e.Tag] = e.line
		if e.Idx != nil {
			if prev, ok := seenIdx[*e.Idx]; ok {
				return &InputError{Path: jp, Line: e.line, Tag: e.Tag, Msg: fmt.Sprintf("duplicate idx %d (first at line %d)", *e.Idx, prev), Hint: "renumber idx so each entry has its own; a merge of two branches usually causes this"}
			}
			seenIdx[*e.Idx] = e.line
		}
		if !e.hasWhen {
			return &InputError{Path: jp, Line: e.line, Tag: e.Tag, Msg: "entry has no \"when\"", Hint: "drizzle-orm stores \"when\" as created_at; restore it from version control"}
		}
		if i > 0 && e.When <= prevWhen {
			l.src.Warnings = append(l.src.Warnings, Warning{Path: jp, Line: e.line, Tag: e.Tag,
				Msg: fmt.Sprintf("\"when\" %d is not after the previous entry's %d; drizzle-orm 0.x would skip this migration on any database that already has the previous one", e.When, prevWhen)})
		}
		prevWhen = e.When
		if !validTag(e.Tag) {
			return &InputError{Path: jp, Line: e.line, Tag: e.Tag, Msg: "tag escapes the migrations folder (absolute path, \"..\" or a backslash)", Hint: "a tag is a file name inside the folder, such as 0003_add_index"}
		}
	}
	ms, ls, err := l.readAll(j.Entries)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) && ie.Line == 0 && ie.Path == jp {
			for _, e := range j.Entries {
				if e.Tag == ie.Tag {
					ie.Line = e.line
				}
			}
		}
		return err
	}
	for i, e := range j.Entries {
		layouts[ls[i]] = true
		top, _, _ := strings.Cut(e.Tag, "/")
		referenced[top] = true
		ms[i].CreatedAt, ms[i].Line = e.When, e.line
	}
	l.src.Migrations = ms
	l.src.Layout = LayoutJournal
	if layouts[LayoutJournalFolders] && !layouts[LayoutJournal] {
		l.src.Layout = LayoutJournalFolders
	}
	// Folders the journal does not know are never applied: say so, since
	// it usually means a half-finished `drizzle-kit up` or a bad merge.
	for _, name := range l.names() {
		// Names alone: a file type costs a stat per entry where the file
		// system does not report it, and the Stat below tells folders.
		if strings.HasSuffix(name, ".sql") || referenced[name] || name == "meta" {
			continue
		}
		if _, err := fs.Stat(l.fsys, name+"/migration.sql"); err == nil {
			l.src.Warnings = append(l.src.Warnings, Warning{Path: l.src.Path(name),
				Msg: "has a migration.sql but no journal entry, so it is ignored; add it to meta/_journal.json, or finish `drizzle-kit up` and delete the journal"})
		}
	}
	return nil
}

// names lists the folder's entries by name, sorted.
func (l *loader) names() []string {
	if l.osDir != "" {
		if f, err := os.Open(l.osDir); err == nil {
			defer f.Close()
			if names, err := f.Readdirnames(-1); err == nil {
				slices.Sort(names)
				return names
			}
		}
	}
	ents, err := fs.ReadDir(l.fsys, ".")
	if err != nil {
		return nil
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names
}

// readAll reads the entries' files with a few workers: loading is mostly
// open/read/close system calls, which overlap well. The first error in
// journal order wins, so messages do not depend on scheduling.
func (l *loader) readAll(entries []journalEntry) ([]*Migration, []Layout, error) {
	ms := make([]*Migration, len(entries))
	ls := make([]Layout, len(entries))
	errs := make([]error, len(entries))
	// Workers take the next entry from a counter: handing 500 indexes
	// through a channel woke a sleeping worker for most of them.
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := 0; w < min(loadWorkers, len(entries)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(entries); i = int(next.Add(1) - 1) {
				ms[i], ls[i], errs[i] = l.entryFile(entries[i].Tag)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	return ms, ls, nil
}

func validTag(tag string) bool {
	return fs.ValidPath(tag) && tag != "." && !strings.Contains(tag, `\`)
}

// entryFile finds the file of a journal entry: <tag>.sql as drizzle-orm 0.x
// reads it, or <tag>/migration.sql for the folder-per-migration journal.
func (l *loader) entryFile(tag string) (*Migration, Layout, error) {
	flat, folder := tag+".sql", path.Join(tag, "migration.sql")
	m, errFlat := l.migration(tag, flat)
	if errFlat == nil {
		return m, LayoutJournal, nil
	}
	if !errors.Is(errFlat, fs.ErrNotExist) {
		return nil, "", errFlat
	}
	m, errFolder := l.migration(tag, folder)
	if errFolder == nil {
		return m, LayoutJournalFolders, nil
	}
	if !errors.Is(errFolder, fs.ErrNotExist) {
		return nil, "", errFolder
	}
	return nil, "", &InputError{Path: l.src.Path(journalPath), Tag: tag,
		Msg:  fmt.Sprintf("the journal lists this migration but neither %s nor %s exists", l.src.Path(flat), l.src.Path(folder)),
		Hint: "restore the file from version control, or remove the entry from meta/_journal.json if the migration was abandoned"}
}

func (l *loader) migration(tag, file string) (*Migration, error) {
	b, err := l.readFile(file)
	if err != nil {
		return nil, l.fileErr(file, tag, "cannot read the migration", err)
	}
	valid := utf8.Valid(b)
	text := OwnText(b) // b is not used after hashing
	var hash string
	if valid { // the text is the bytes
		hash = hashBytes(b)
	} else {
		hash = Hash(text)
	}
	return &Migration{Tag: tag, File: file, Hash: hash, Text: text, Statements: Split(text)}, nil
}

// folders reads the drizzle-kit 1.x layout.
func (l *loader) folders() error {
	ents, err := fs.ReadDir(l.fsys, ".")
	if err != nil {
		return &InputError{Path: l.src.Dir, Msg: "cannot list the migrations folder", Err: err}
	}
	var looseSQL []string
	for _, d := range ents {
		name := d.Name()
		if !d.IsDir() {
			if strings.HasSuffix(name, ".sql") && d.Type().IsRegular() {
				looseSQL = append(looseSQL, name)
			}
			if d.Type()&fs.ModeSymlink == 0 {
				continue
			}
		}
		file := name + "/migration.sql"
		if _, err := fs.Stat(l.fsys, file); err != nil {
			if isEscape(err) {
				return l.fileErr(file, name, "", err)
			}
			continue // drizzle-orm 1.0 ignores folders without migration.sql
		}
		millis, err := folderMillis(name)
		if err != nil {
			return &InputError{Path: l.src.Path(name), Tag: name, Msg: err.Error(),
				Hint: "drizzle-kit 1.x names folders <YYYYMMDDhhmmss>_<name> in UTC; rename the folder (keeping the order) or move it out of the migrations folder"}
		}
		m, err := l.migration(name, file)
		if err != nil {
			return err
		}
		m.CreatedAt = millis
		l.src.Migrations = append(l.src.Migrations, m)
	}
	if len(l.src.Migrations) == 0 && len(looseSQL) > 0 {
		return &InputError{Path: l.src.Path(journalPath), Msg: fmt.Sprintf("missing, but the folder holds %d .sql file(s) such as %s", len(looseSQL), looseSQL[0]),
			Hint: "drizzle-kit 0.x migrations need their journal: restore meta/_journal.json from version control (upshift will not guess the order or created_at)"}
	}
	sortByName(l.src.Migrations)
	l.src.Layout = LayoutFolders
	return nil
}

// sortByName orders migrations the way drizzle-orm 1.0 does, with
// String.prototype.localeCompare: Unicode collation, not byte order (so
// "…_a" sorts before "…_B").
func sortByName(ms []*Migration) {
	c := collate.New(language.Und)
	slices.SortStableFunc(ms, func(a, b *Migration) int { return c.CompareString(a.Tag, b.Tag) })
}

// folderMillis parses the 14-digit UTC timestamp that starts a drizzle-kit
// 1.x folder name, as drizzle-orm's formatToMillis does, but refuses what
// Date.UTC would silently roll over (month 13, 31 February, 25 o'clock).
func folderMillis(name string) (int64, error) {
	if len(name) < 14 {
		return 0, fmt.Errorf("folder name does not start with a 14-digit timestamp YYYYMMDDhhmmss")
	}
	p := name[:14]
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("folder name does not start with a 14-digit timestamp YYYYMMDDhhmmss (got %q)", p)
		}
	}
	t, err := time.Parse("20060102150405", p)
	if err != nil {
		return 0, fmt.Errorf("folder timestamp %q is not a valid date and time", p)
	}
	return t.UnixMilli(), nil
}

// lineColBytes is LineCol for raw bytes (used for the journal).
func lineColBytes(b []byte, off int64) (int, int) {
	return newLineIndex(b).at(off)
}

// lineIndex maps byte offsets to line:column in O(log n), so that a journal
// of thousands of entries is not rescanned from the top for each one.
type lineIndex struct {
	data   []byte
	starts []int // byte offset where each line starts
}

func newLineIndex(b []byte) *lineIndex {
	li := &lineIndex{data: b, starts: []int{0}}
	for i, c := range b {
		if c == '\n' {
			li.starts = append(li.starts, i+1)
		}
	}
	return li
}

func (li *lineIndex) at(off int64) (int, int) {
	o := int(max(0, min(off, int64(len(li.data)))))
	line := li.line(off)
	return line, utf8.RuneCount(li.data[li.starts[line-1]:o]) + 1
}

// line is at without the column, which costs a scan of the line.
func (li *lineIndex) line(off int64) int {
	o := int(max(0, min(off, int64(len(li.data)))))
	line, found := slices.BinarySearch(li.starts, o)
	if found {
		return line + 1
	}
	return line
}

// loadWorkers read migration files side by side.
var loadWorkers = 4
