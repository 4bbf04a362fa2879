package api

import "github.com/danielgtaylor/huma/v2"

// PromptRepo stores this resource (filled in with its operations).
type PromptRepo interface{}

func registerPrompts(a huma.API, s *server) {}
