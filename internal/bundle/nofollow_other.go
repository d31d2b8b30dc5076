//go:build !unix

package bundle

// oNoFollow is zero where the platform has no O_NOFOLLOW; os.Root and
// O_EXCL still keep writes from following symlinks there.
const oNoFollow = 0
