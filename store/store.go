// Package store implements core's repositories on SQLite through sqlx.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/mattn/go-sqlite3" // registers the sqlite3 driver
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Config says where the database lives.
type Config struct {
	DataDir string
}

// Validate checks the configuration before anything touches the disk.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("data dir is empty")
	}
	return nil
}

// DB is the SQLite database. Writes go through one connection, so they are
// serialised; reads use a pool of query-only connections.
type DB struct {
	w      *sqlx.DB
	r      *sqlx.DB
	sealer *sealer
	path   string

	ev *eventWriter

	closeOnce sync.Once
	closeErr  error
}

// FileName is the database file inside the data dir.
const FileName = "dialtone.db"

// Open prepares the data dir, opens the database (creating it if missing) and
// applies every pending migration.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	s, err := loadSealer(filepath.Join(cfg.DataDir, "secret.key"))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.DataDir, FileName)
	dsn := "file:" + path + "?_journal_mode=WAL&_foreign_keys=on&_busy_timeout=10000&_synchronous=FULL"
	w, err := sqlx.Open("sqlite3", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sqlx.Open("sqlite3", dsn+"&_query_only=true")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	r.SetMaxOpenConns(max(4, 2*runtime.NumCPU()))
	db := &DB{w: w, r: r, sealer: s, path: path}
	db.startEventWriter()
	return db, nil
}

func prepareDataDir(dir string) error {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data dir %s: %w", dir, errors.Unwrap(err))
	}
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable", dir)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

func migrate(ctx context.Context, db *sqlx.DB) error {
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.DB, sub)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// Migrate opens the database, applies pending migrations and closes it again.
func Migrate(ctx context.Context, cfg Config) error {
	db, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	return db.Close()
}

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.r.GetContext(ctx, &one, "SELECT 1")
}

// Close checkpoints the write-ahead log and closes every connection. Calls
// after the first return the first result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.ev.quit)
		<-db.ev.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rerr := db.r.Close()
		_, _ = db.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
		db.closeErr = errors.Join(rerr, db.w.Close())
	})
	return db.closeErr
}

// IntegrityCheck runs SQLite's own consistency check.
func (db *DB) IntegrityCheck(ctx context.Context) error {
	var res string
	if err := db.r.GetContext(ctx, &res, "PRAGMA integrity_check"); err != nil {
		return err
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	return nil
}

// inTx runs fn in a write transaction.
func (db *DB) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.w.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
