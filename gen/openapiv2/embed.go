// Package openapiv2 embeds the OpenAPI (Swagger 2.0) document that
// protoc-gen-openapiv2 generates beside this file, so the daemon can serve it
// at /openapi.json. This file is the one hand-written file under gen/; `make
// gen` keeps it and regenerates sockd.swagger.json.
package openapiv2

import _ "embed"

// SwaggerJSON is the API's OpenAPI document.
//
//go:embed sockd.swagger.json
var SwaggerJSON []byte
