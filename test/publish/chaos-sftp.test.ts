/**
 * Issue 15, the invariant under kill -9 (sftp backend): at every instant every published list
 * verifies and every image it names is at its URI with its size and sha512. `vmgit publish` is
 * killed at random points, many times (chaos-world.ts); after each kill a subscriber's check;
 * then a normal publish completes, removes the temp files the kills left, and the invariant holds,
 * also after `publish --prune` removed the old versions no list names.
 */
import { chaosSuite } from './chaos-world.js'

chaosSuite('sftp')
