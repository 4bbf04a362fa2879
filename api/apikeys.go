package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/dialtone-pbx/dialtone/core"
)

// APIKey is an API key as listed: never its secret.
type APIKey struct {
	ID          string    `json:"id" example:"key_0j5d8c2mq4r7w1xa"`
	Name        string    `json:"name" example:"crm integration"`
	Role        string    `json:"role" enum:"admin,member"`
	ExtensionID string    `json:"extension_id,omitempty" doc:"For a member key, the one extension it may use."`
	Hint        string    `json:"hint" doc:"The last four characters of the secret."`
	CreatedAt   time.Time `json:"created_at"`
}

// APIKeyWithSecret is returned once, when the key is created.
type APIKeyWithSecret struct {
	APIKey
	Secret string `json:"secret" doc:"The bearer secret. Shown only in this response; only a hash is kept."`
}

// APIKeyInput is the body of create.
type APIKeyInput struct {
	Name        string `json:"name" minLength:"1" maxLength:"100"`
	Role        string `json:"role" enum:"admin,member"`
	ExtensionID string `json:"extension_id,omitempty" doc:"Required for a member key, empty for an admin key."`
}

func toAPIKey(k *core.APIKey) APIKey {
	return APIKey{ID: string(k.ID), Name: k.Name, Role: k.Role.String(), ExtensionID: string(k.ExtensionID), Hint: k.Hint, CreatedAt: k.CreatedAt}
}

type apiKeyCreated struct {
	Location string `header:"Location"`
	Body     APIKeyWithSecret
}

type apiKeyList struct {
	Body struct {
		Items      []APIKey `json:"items" nullable:"false"`
		NextCursor string   `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page."`
	}
}

type apiKeyIDParam struct {
	ID string `path:"id" doc:"API key id."`
}

func registerAPIKeys(a huma.API, s *server) {
	tags := []string{"API keys"}
	huma.Register(a, huma.Operation{
		OperationID:   "create-api-key",
		Method:        http.MethodPost,
		Path:          "/v1/api-keys",
		Summary:       "Create an API key",
		Description:   "Issues a key. The secret is in this response only. Admin keys only. " + idempotencyHeaderDoc,
		Tags:          tags,
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *struct {
		IdempotencyParam
		Body APIKeyInput
	}) (*apiKeyCreated, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		k, secret, err := s.APIKeys.Create(ctx, core.APIKeySpec{Name: in.Body.Name, Role: in.Body.Role, ExtensionID: core.ExtensionID(in.Body.ExtensionID)})
		if err != nil {
			return nil, s.problem(ctx, err, "body")
		}
		out := &apiKeyCreated{Location: "/v1/api-keys/" + string(k.ID)}
		out.Body = APIKeyWithSecret{APIKey: toAPIKey(k), Secret: secret.Reveal()}
		return out, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "list-api-keys",
		Method:      http.MethodGet,
		Path:        "/v1/api-keys",
		Summary:     "List API keys",
		Description: "Lists keys without their secrets. Admin keys only.",
		Tags:        tags,
		Errors:      []int{http.StatusForbidden, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *ListParams) (*apiKeyList, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		page, err := s.APIKeys.Repo.ListAPIKeys(ctx, in.page())
		if err != nil {
			return nil, s.problem(ctx, err, "query")
		}
		out := &apiKeyList{}
		out.Body.Items = make([]APIKey, 0, len(page.Items))
		for _, k := range page.Items {
			out.Body.Items = append(out.Body.Items, toAPIKey(k))
		}
		out.Body.NextCursor = page.NextCursor
		return out, nil
	})

	huma.Register(a, huma.Operation{
		OperationID: "get-api-key",
		Method:      http.MethodGet,
		Path:        "/v1/api-keys/{id}",
		Summary:     "Get an API key",
		Description: "One key without its secret. Admin keys only.",
		Tags:        tags,
		Errors:      []int{http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *apiKeyIDParam) (*struct{ Body APIKey }, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		k, err := s.APIKeys.Repo.GetAPIKey(ctx, core.APIKeyID(in.ID))
		if err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return &struct{ Body APIKey }{Body: toAPIKey(k)}, nil
	})

	huma.Register(a, huma.Operation{
		OperationID:   "delete-api-key",
		Method:        http.MethodDelete,
		Path:          "/v1/api-keys/{id}",
		Summary:       "Revoke an API key",
		Description:   "Revokes the key; the next request made with it is refused. The last admin key cannot be revoked (409).",
		Tags:          tags,
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
	}, func(ctx context.Context, in *apiKeyIDParam) (*struct{}, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		if err := s.APIKeys.Repo.DeleteAPIKey(ctx, core.APIKeyID(in.ID)); err != nil {
			return nil, s.problem(ctx, err, "path")
		}
		return nil, nil
	})
}
