import { Flags } from '@oclif/core'

/** Flags shared by `vmgit glance event` and `vmgit glance reconcile` (the oclif side only). */
export const glanceFlags = {
  config: Flags.string({ description: 'YAML file with the settings below (keys = flag names); flags override it', env: 'VMGIT_GLANCE_CONFIG' }),
  cloud: Flags.string({ description: 'clouds.yaml entry to authenticate with (default: OS_CLOUD, else the OS_* variables)' }),
  endpoint: Flags.string({ description: 'Glance URL, skipping the catalog (with OS_TOKEN: no Keystone call at all); env OS_IMAGE_URL' }),
  'target-format': Flags.string({ description: 'disk format stored in Glance; other formats are converted with qemu-img [default: qcow2]', options: ['qcow2', 'raw', 'vmdk', 'vdi', 'vhd', 'vhdx'] }),
  visibility: Flags.string({ description: 'visibility of published images [default: private, or shared with --share]', options: ['private', 'shared', 'community', 'public'] }),
  share: Flags.string({ description: 'project id to share images with (repeatable; implies --visibility shared)', multiple: true }),
  'on-expiry': Flags.string({ description: 'what happens to an image the endorser withdrew [default: deactivate]', options: ['deactivate', 'delete'] }),
  grace: Flags.string({ description: 'how long a replaced version stays (deactivated) before deletion, e.g. 12h, 7d, 0 [default: 1d]' }),
  'work-dir': Flags.string({ description: 'scratch directory for conversions [default: the OS temp dir]' }),
  db: Flags.string({ description: 'subscriber database (default: VMGIT_DB, VMCATCHER_RDBMS, then the standard path)' }),
  now: Flags.string({ description: 'pretend it is this ISO 8601 time (tests; grace periods)', hidden: true }),
}
