package api

import "github.com/danielgtaylor/huma/v2"

// ScheduleRepo stores this resource (filled in with its operations).
type ScheduleRepo interface{}

func registerSchedules(a huma.API, s *server) {}
