package api

import "github.com/danielgtaylor/huma/v2"

// CallPlanRepo stores this resource (filled in with its operations).
type CallPlanRepo interface{}

func registerCallPlans(a huma.API, s *server) {}
