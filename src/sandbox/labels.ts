// Labels on every container sandrun creates: how the reaper and the reconciler find them.
export const MANAGED_LABEL = 'sandrun.managed';
export const RUN_ID_LABEL = 'sandrun.run_id';
/** Which sandrun server made the container: servers sharing one engine never touch each other's containers. */
export const INSTANCE_LABEL = 'sandrun.instance';
