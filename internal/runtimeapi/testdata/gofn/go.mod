// A module of its own so that ember's go.mod needs no aws-lambda-go: only
// the runtimeapi tests build this, from the module cache.
module github.com/ember-run/ember/internal/runtimeapi/testdata/gofn

go 1.26

require github.com/aws/aws-lambda-go v1.55.1
