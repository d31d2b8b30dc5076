// Package pubapi keeps published APIs: an account groups its functions
// behind HTTP routes ("GET /items/{id}" → function), deploys frozen
// snapshots of those routes as stages, decides who may see the API
// (private, listed accounts, public), and lets other accounts subscribe.
// A subscription holds an API key and a usage plan (rate, burst, daily
// quota); calls through it run the owner's functions billed to the
// subscriber. The HTTP edge (package api) serves the calls; this package
// answers who may call, which route a request reaches and whether the
// plan admits it.
//
// Storage is two JetStream KV buckets. "ember-pubapi" holds the records:
//
//	api.<id>                    the API: name, draft routes, visibility, default plan
//	own.<account>.<id>          index of an owner's APIs
//	stage.<id>.<stage>          a deployed stage: the routes frozen at deploy time
//	sub.<id>.<account>          a subscription: the key's SHA-256, the plan override
//	key.<sha256 of the key>     index from a key to its subscription
//
// Every node keeps a full, watch-fed mirror of that bucket in memory, so a
// call reads no store to find its API, stage and subscription. Writes are
// compare-and-set on the record's revision and update this node's mirror
// at once; other nodes see them within the watch's latency.
//
// "ember-pubapi-usage" holds the daily call counters,
// q.<id>.<account>.<yyyymmdd> (UTC). A node counts calls in memory and
// adds them to the stored counter about once a second, so a restart loses
// at most that second's calls and a quota can be overrun by about as many
// calls as all nodes admit in that second. Rate limits (token buckets) are
// per node and in memory only: on N nodes a subscriber can reach N times
// its rate.
//
// Keys are 40 random letters and digits, shown once when created. Only
// their SHA-256 is stored: a key has about 238 bits of entropy, so a fast
// hash is enough and lookups stay O(1).
package pubapi
