// Labels on every container sandrun creates: how the reaper and the reconciler find them.
export const MANAGED_LABEL = 'sandrun.managed';
export const RUN_ID_LABEL = 'sandrun.run_id';
