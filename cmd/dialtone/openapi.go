package main

import (
	"github.com/dialtone-pbx/dialtone/api"
)

type openAPICmd struct{}

func (openAPICmd) Run(e env) error {
	b, err := api.OpenAPIYAML()
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(b)
	return err
}
