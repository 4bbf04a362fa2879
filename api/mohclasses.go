package api

import (
	"context"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
	"github.com/dialtone-pbx/dialtone/media/audio/system"
)

// MOHClassRepo stores music-on-hold classes.
type MOHClassRepo interface {
	core.MOHClassRepo
}

// MOHClass is a playlist callers hear while they wait.
type MOHClass struct {
	ID        string    `json:"id" example:"moh_4x8k1m0c9v2z7q3d"`
	Name      string    `json:"name" example:"lobby"`
	Prompts   []string  `json:"prompts" nullable:"false" example:"[\"pmt_4x8k1m0c9v2z7q3d\",\"moh-default\"]" doc:"Played in turn, looping: stored prompt ids or system prompt names."`
	Order     string    `json:"order" enum:"ordered,shuffle"`
	Default   bool      `json:"default" doc:"The class played when nothing names another; it cannot be deleted."`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MOHClassCreate is the body of create.
type MOHClassCreate struct {
	Name    string   `json:"name,omitempty" maxLength:"100" doc:"Required; unique."`
	Prompts []string `json:"prompts,omitempty" maxItems:"100" doc:"Required, 1 to 100: stored prompt ids (pmt_...) or system prompt names (moh-default), each existing."`
	Order   string   `json:"order,omitempty" enum:"ordered,shuffle" doc:"Default ordered."`
}

// MOHClassPatch is the body of update, a JSON merge patch.
type MOHClassPatch struct {
	Name    *string  `json:"name,omitempty" minLength:"1" maxLength:"100"`
	Prompts []string `json:"prompts,omitempty" maxItems:"100" doc:"Replaces the whole list."`
	Order   *string  `json:"order,omitempty" enum:"ordered,shuffle" doc:"null sets ordered."`
}

func toMOHClass(c *core.MOHClass) MOHClass {
	prompts := c.Prompts
	if prompts == nil {
		prompts = []string{}
	}
	return MOHClass{ID: string(c.ID), Name: c.Name, Prompts: prompts, Order: string(c.Order),
		Default: c.ID == core.DefaultMOHClassID, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

type mohClassOutput struct {
	ETag string `header:"ETag"`
	Body MOHClass
}

type mohClassCreated struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Body     MOHClass
}

type mohClassList struct {
	Body struct {
		Items      []MOHClass `json:"items" nullable:"false"`
		NextCursor string     `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page."`
	}
}

// MOHClassIDParam is the {id} path parameter of music-on-hold class routes.
type MOHClassIDParam struct {
	ID string `path:"id" example:"moh_4x8k1m0c9v2z7q3d" doc:"Music-on-hold class id."`
}

func registerMOHClasses(a huma.API, s *server) {
	tags := []string{"Music on hold"}
	huma.Register(a, huma.Operation{
		OperationID: "create-moh-class", Method: http.MethodPost, Path: "/v1/moh-classes", Summary: "Add a music-on-hold class",
		Description: "A named playlist of stored prompts and system prompts, played in order or shuffled. " + idempotencyHeaderDoc,
		Tags:        tags, DefaultStatus: http.StatusCreated, Errors: []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		IdempotencyParam
		Body MOHClassCreate
	}) (*mohClassCreated, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		c := &core.MOHClass{ID: core.MOHClassID(core.NewID(core.PrefixMOHClass)), Name: in.Body.Name,
			Prompts: in.Body.Prompts, Order: core.MOHOrder(in.Body.Order), Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := c.Validate(system.Has); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		if err := s.MOHClasses.CreateMOHClass(ctx, c); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &mohClassCreated{ETag: etag(c.Version), Location: "/v1/moh-classes/" + string(c.ID), Body: toMOHClass(c)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-moh-classes", Method: http.MethodGet, Path: "/v1/moh-classes", Summary: "List music-on-hold classes",
		Description: "Classes by name, keyset-paginated; the default class is among them. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *ListParams) (*mohClassList, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		page, err := s.MOHClasses.ListMOHClasses(ctx, in.page())
		if err != nil {
			return nil, s.problem(ctx, err, "query")
		}
		out := &mohClassList{}
		out.Body.Items = make([]MOHClass, 0, len(page.Items))
		for _, c := range page.Items {
			out.Body.Items = append(out.Body.Items, toMOHClass(c))
		}
		out.Body.NextCursor = page.NextCursor
		return out, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-moh-class", Method: http.MethodGet, Path: "/v1/moh-classes/{id}", Summary: "Get a music-on-hold class",
		Description: "One class and its ETag. Admin keys only.",
		Tags:        tags, Errors: []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *MOHClassIDParam) (*mohClassOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		c, err := s.MOHClasses.GetMOHClass(ctx, core.MOHClassID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return &mohClassOutput{ETag: etag(c.Version), Body: toMOHClass(c)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "update-moh-class", Method: http.MethodPatch, Path: "/v1/moh-classes/{id}", Summary: "Change a music-on-hold class",
		Description: "Applies a JSON merge patch (RFC 7396); prompts replaces the whole list. With If-Match, the update happens only if " +
			"the class still has that ETag (412 otherwise). The default class can be changed too. Callers on hold hear the change from their next loop.",
		Tags: tags, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		MOHClassIDParam
		IfMatch string `header:"If-Match" doc:"ETag from an earlier read; the update is refused with 412 if the class changed since."`
		RawBody []byte `contentType:"application/merge-patch+json"`
	}) (*mohClassOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		var patch MOHClassPatch
		nulls, err := readMergePatch(in.RawBody, &patch, "order")
		if err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		c, err := s.MOHClasses.GetMOHClass(ctx, core.MOHClassID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		if !ifMatch(in.IfMatch, c.Version) {
			return nil, huma.Error412PreconditionFailed("the music-on-hold class changed since the ETag in If-Match was read")
		}
		if patch.Name != nil {
			c.Name = *patch.Name
		}
		if patch.Prompts != nil {
			c.Prompts = patch.Prompts
		}
		if patch.Order != nil {
			c.Order = core.MOHOrder(*patch.Order)
		}
		if nulls["order"] {
			c.Order = core.MOHOrdered
		}
		if err := c.Validate(system.Has); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		c.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
		if err := s.MOHClasses.UpdateMOHClass(ctx, c, c.Version); err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		return &mohClassOutput{ETag: etag(c.Version), Body: toMOHClass(c)}, nil
	})
	documentMergePatch(a, "/v1/moh-classes/{id}", reflect.TypeFor[MOHClassPatch](), "MOHClassPatch")
	huma.Register(a, huma.Operation{
		OperationID: "delete-moh-class", Method: http.MethodDelete, Path: "/v1/moh-classes/{id}", Summary: "Delete a music-on-hold class",
		Description: "Deletes the class; 409 for the default class and while numbers or call plans name it.",
		Tags:        tags, DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, func(ctx context.Context, in *MOHClassIDParam) (*struct{}, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		if err := s.MOHClasses.DeleteMOHClass(ctx, core.MOHClassID(in.ID)); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return nil, nil
	})
}
