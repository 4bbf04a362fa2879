package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/store"
)

// keysCmd manages API keys directly in the data dir, with the server stopped
// or running: the way back in after losing the admin key.
type keysCmd struct {
	Create keysCreateCmd `cmd:"" help:"Create an API key and print its secret once."`
	List   keysListCmd   `cmd:"" help:"List API keys (their secrets are not kept)."`
	Revoke keysRevokeCmd `cmd:"" help:"Revoke an API key (not the last admin key)."`
}

type dataFlag struct {
	Data string `name:"data" env:"DIALTONE_DATA" default:"./data" help:"Data directory of the database to change."`
}

// openExisting opens the data dir's database, which must exist: a mistyped
// --data would otherwise create a new database and a key no server knows.
func (d dataFlag) openExisting(ctx context.Context) (*store.DB, *core.APIKeys, error) {
	path := filepath.Join(d.Data, store.FileName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("no database at %s: check --data (dialtone serve or dialtone migrate creates it)", path)
	}
	db, err := store.Open(ctx, store.Config{DataDir: d.Data})
	if err != nil {
		return nil, nil, err
	}
	return db, &core.APIKeys{Repo: db, Extensions: db}, nil
}

type keysCreateCmd struct {
	dataFlag
	Role      string `name:"role" required:"" enum:"admin,member" help:"admin (everything) or member (its own extension only)."`
	Name      string `name:"name" required:"" help:"What the key is for, as shown by keys list."`
	Extension string `name:"extension" help:"Extension of a member key: its id (ext_...) or its number."`
}

// Run creates the key and prints its secret alone on stdout, so that
// KEY=$(dialtone keys create ...) captures it; the rest goes to stderr.
func (c keysCreateCmd) Run(ctx context.Context, e env) (err error) {
	db, keys, err := c.openExisting(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	ext := core.ExtensionID(c.Extension)
	if c.Extension != "" && !strings.HasPrefix(c.Extension, core.PrefixExtension) {
		x, err := db.ExtensionByNumber(ctx, c.Extension)
		if err != nil {
			return fmt.Errorf("--extension %s: %w", c.Extension, err)
		}
		ext = x.ID
	}
	k, secret, err := keys.Create(ctx, core.APIKeySpec{Name: c.Name, Role: c.Role, ExtensionID: ext})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "created %s api key %s (%s); its secret is shown once:\n", k.Role, k.ID, k.Name)
	_, err = fmt.Fprintln(e.stdout, secret.Reveal())
	return err
}

type keysListCmd struct {
	dataFlag
}

func (c keysListCmd) Run(ctx context.Context, e env) (err error) {
	db, _, err := c.openExisting(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tEXTENSION\tNAME\tHINT\tCREATED")
	p := core.PageRequest{Limit: 500}
	for {
		page, err := db.ListAPIKeys(ctx, p)
		if err != nil {
			return err
		}
		for _, k := range page.Items {
			ext := string(k.ExtensionID)
			if ext == "" {
				ext = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, ext, k.Name, k.Hint, k.CreatedAt.Format(time.RFC3339))
		}
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	return tw.Flush()
}

type keysRevokeCmd struct {
	dataFlag
	ID string `arg:"" name:"id" help:"Id of the key (key_...), as shown by keys list."`
}

func (c keysRevokeCmd) Run(ctx context.Context, e env) (err error) {
	db, _, err := c.openExisting(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	if err := db.DeleteAPIKey(ctx, core.APIKeyID(c.ID)); err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "revoked api key %s\n", c.ID)
	return err
}
