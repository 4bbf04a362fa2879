package api

import "github.com/danielgtaylor/huma/v2"

// MOHClassRepo stores this resource (filled in with its operations).
type MOHClassRepo interface{}

func registerMOHClasses(a huma.API, s *server) {}
