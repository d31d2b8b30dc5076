package api

import (
	"strconv"
	"time"

	"github.com/ember-run/ember/internal/catalog"
)

// Lambda's timestamp format: 2026-11-23T12:34:56.789+0000.
const timeLayout = "2006-01-02T15:04:05.000-0700"

func itoa(n int) string { return strconv.Itoa(n) }

type environment struct {
	Variables map[string]string `json:"Variables"`
}

type functionConfiguration struct {
	FunctionName     string            `json:"FunctionName"`
	FunctionArn      string            `json:"FunctionArn"`
	Runtime          string            `json:"Runtime"`
	Role             string            `json:"Role"`
	Handler          string            `json:"Handler,omitempty"`
	CodeSize         int64             `json:"CodeSize"`
	Description      string            `json:"Description"`
	Timeout          int               `json:"Timeout"`
	MemorySize       int               `json:"MemorySize"`
	LastModified     string            `json:"LastModified"`
	CodeSha256       string            `json:"CodeSha256"`
	Version          string            `json:"Version"`
	Environment      *environment      `json:"Environment,omitempty"`
	TracingConfig    map[string]string `json:"TracingConfig"`
	RevisionID       string            `json:"RevisionId"`
	State            string            `json:"State"`
	LastUpdateStatus string            `json:"LastUpdateStatus"`
	PackageType      string            `json:"PackageType"`
	Architectures    []string          `json:"Architectures"`
	EphemeralStorage map[string]int    `json:"EphemeralStorage"`
	SnapStart        map[string]string `json:"SnapStart"`
	LoggingConfig    map[string]string `json:"LoggingConfig"`
	DeadLetterConfig map[string]string `json:"DeadLetterConfig,omitempty"`
	KMSKeyArn        string            `json:"KMSKeyArn,omitempty"`
}

// render turns a stored configuration into the wire shape. arnQualifier is
// the qualifier shown in FunctionArn ("" for the unqualified ARN); owner
// false hides the environment, which may hold the owner's secrets.
func (s *Server) render(account, name string, cfg catalog.Config, arnQualifier string, owner bool) functionConfiguration {
	out := functionConfiguration{
		FunctionName:     name,
		FunctionArn:      s.cat.ARN(account, name, arnQualifier),
		Runtime:          cfg.Runtime,
		Role:             cfg.Role,
		Handler:          cfg.Handler,
		CodeSize:         cfg.CodeSize,
		Description:      cfg.Description,
		Timeout:          cfg.Timeout,
		MemorySize:       cfg.MemorySize,
		LastModified:     cfg.LastModified.UTC().Format(timeLayout),
		CodeSha256:       cfg.CodeSha256,
		Version:          cfg.Version,
		TracingConfig:    map[string]string{"Mode": cfg.TracingMode},
		RevisionID:       cfg.RevisionID,
		State:            "Active",
		LastUpdateStatus: "Successful",
		PackageType:      "Zip",
		Architectures:    cfg.Architectures,
		EphemeralStorage: map[string]int{"Size": cfg.EphemeralStorage},
		SnapStart:        map[string]string{"ApplyOn": "None", "OptimizationStatus": "Off"},
		LoggingConfig:    map[string]string{"LogFormat": "Text", "LogGroup": "/aws/lambda/" + name},
		KMSKeyArn:        cfg.KMSKeyArn,
	}
	if owner && len(cfg.Environment) > 0 {
		out.Environment = &environment{Variables: cfg.Environment}
	}
	if cfg.DeadLetterTarget != "" {
		out.DeadLetterConfig = map[string]string{"TargetArn": cfg.DeadLetterTarget}
	}
	return out
}

type aliasConfiguration struct {
	AliasArn        string         `json:"AliasArn"`
	Name            string         `json:"Name"`
	FunctionVersion string         `json:"FunctionVersion"`
	Description     string         `json:"Description"`
	RoutingConfig   *routingConfig `json:"RoutingConfig,omitempty"`
	RevisionID      string         `json:"RevisionId"`
}

type routingConfig struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights"`
}

func (s *Server) renderAlias(account, name string, a *catalog.Alias) aliasConfiguration {
	out := aliasConfiguration{
		AliasArn: s.cat.ARN(account, name, a.Name), Name: a.Name, FunctionVersion: a.FunctionVersion,
		Description: a.Description, RevisionID: a.RevisionID,
	}
	if len(a.AdditionalVersionWeights) > 0 {
		out.RoutingConfig = &routingConfig{AdditionalVersionWeights: a.AdditionalVersionWeights}
	}
	return out
}

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }
