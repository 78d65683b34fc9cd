-- Every change of a job in the Redis job store, each one atomic (see RedisJobStore for the layout).
-- ARGV[1] = operation, ARGV[2] = key prefix, ARGV[3] = consumer group; the rest depends on the operation.
-- Each operation answers {outcome, ...}: only what its caller reads (the whole job hash only where the caller
-- returns the job). The job's 'state' event is published here, in the same step as the change, so that no daemon
-- sees a change without its event.
-- Every redis.call costs a round through Redis's command machinery, so a job's fields are read once per operation
-- (one HMGET into a table, kept up to date as the operation changes them) and written with as few HSETs as can be.
local op, P, group = ARGV[1], ARGV[2], ARGV[3]

local clock
local function now_ms()
  if not clock then
    local t = redis.call('TIME')
    clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return clock
end

local function job_key(id) return P .. 'job:' .. id end

local function hash(key) return redis.call('HGETALL', key) end

-- The fields the operations decide on; a job that does not exist has no state.
local FIELDS = {'state', 'attempts', 'worker', 'token', 'cancel', 'seq', 'stream', 'entry'}
local function load(id)
  local values = redis.call('HMGET', job_key(id), unpack(FIELDS))
  local job = {id = id, key = job_key(id)}
  for i, name in ipairs(FIELDS) do
    if values[i] then job[name] = values[i] end
  end
  return job
end

local function publish_state(job, err)
  local data = {state = string.lower(job.state), attempt = tonumber(job.attempts)}
  if job.worker then data.worker = job.worker end
  if err then data.error = err end
  if job.cancel == '1' and (job.state == 'QUEUED' or job.state == 'RUNNING') then data.cancelRequested = true end
  redis.call('PUBLISH', P .. 'events:' .. job.id,
    cjson.encode({jobId = job.id, at = now_ms(), type = 'state', json = cjson.encode(data)}))
end

-- Stores whose claimers found nothing say until when they wait (see 'claim'): a new or requeued job wakes them,
-- and while none waits (every worker busy, jobs queued) nobody is told.
local function wake(id)
  if redis.call('ZCOUNT', P .. 'waiting', now_ms(), '+inf') > 0 then
    redis.call('PUBLISH', P .. 'wake', id)
  end
end

-- Moves the job between the state sets; the caller writes 'state' into the hash with its other fields.
local function move(job, new)
  redis.call('ZREM', P .. 'state:' .. job.state, job.id)
  redis.call('ZADD', P .. 'state:' .. new, job.seq, job.id)
  job.state = new
end

local function append_error(job, err)
  local errors = cjson.decode(redis.call('HGET', job.key, 'errors'))
  table.insert(errors, err)
  redis.call('HSET', job.key, 'errors', cjson.encode(errors))
end

-- The job's stream entry leaves the stream and the group's pending list: nobody can claim it again. The extra
-- fields (outputs, progress) go into the same HSET.
local function finish(job, state, ...)
  move(job, state)
  redis.call('HSET', job.key, 'state', state, 'finished', now_ms(), ...)
  redis.call('ZADD', P .. 'finished', now_ms(), job.id)
  redis.call('HDEL', job.key, 'worker', 'token', 'lease_until')
  job.worker = nil
  redis.call('ZREM', P .. 'leases', job.id)
  redis.call('XACK', job.stream, group, job.entry)
  redis.call('XDEL', job.stream, job.entry)
  if state == 'FAILED' then redis.call('LPUSH', P .. 'dead', job.id) end
end

-- Back in the queue, its entry left pending in the group and its lease at 0 (long expired): the next claim takes
-- it before new entries.
local function requeue(job, give_back_attempt)
  move(job, 'QUEUED')
  if give_back_attempt then job.attempts = tonumber(job.attempts) - 1 end
  redis.call('HSET', job.key, 'state', 'QUEUED', 'progress', 0, 'attempts', job.attempts)
  redis.call('HDEL', job.key, 'worker', 'token', 'lease_until', 'started')
  job.worker = nil
  redis.call('ZADD', P .. 'leases', 0, job.id)
  wake(job.id)
end

local function held(job, token)
  return job.state == 'RUNNING' and job.token == token
end

-- Leases the job to the worker. An entry just read by this worker's XREADGROUP is already its own; one given back
-- or left by a dead worker is taken over (XCLAIM).
local function take(job, worker, token, visibility, fresh)
  if not fresh then redis.call('XCLAIM', job.stream, group, worker, 0, job.entry, 'JUSTID') end
  local now = now_ms()
  move(job, 'RUNNING')
  job.attempts, job.worker = tonumber(job.attempts) + 1, worker
  redis.call('HSET', job.key, 'state', 'RUNNING', 'attempts', job.attempts, 'worker', worker, 'token', token,
    'lease_until', now + visibility, 'progress', 0, 'started', now)
  redis.call('ZADD', P .. 'leases', now + visibility, job.id)
  publish_state(job, nil)
  local spec = redis.call('HMGET', job.key, 'prompt', 'priority', 'webhook', 'errors', 'outputs', 'created')
  return {'claimed', {job.id, spec[1], spec[2], spec[3] or '', job.attempts, spec[4], spec[5], spec[6], now,
    job.cancel or '0'},
    redis.call('GET', P .. 'inputs:' .. job.id) or ''}
end

if op == 'enqueue' then
  -- Nobody can be subscribed to a job that did not exist: no 'state' event for its creation.
  local id, prompt, priority, webhook, inputs = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
  local now = now_ms()
  local seq = redis.call('INCR', P .. 'seq')
  local stream = P .. 'queue:' .. priority
  if redis.call('ZADD', P .. 'priorities', tonumber(priority), priority) == 1 then
    redis.pcall('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
  end
  local entry = redis.call('XADD', stream, '*', 'job', id)
  local fields = {'id', id, 'state', 'QUEUED', 'prompt', prompt, 'priority', priority, 'attempts', 0, 'progress', 0,
    'errors', '[]', 'outputs', '[]', 'created', now, 'cancel', 0, 'seq', seq, 'stream', stream, 'entry', entry}
  if webhook ~= '' then
    table.insert(fields, 'webhook')
    table.insert(fields, webhook)
  end
  redis.call('HSET', job_key(id), unpack(fields))
  if inputs ~= '' then redis.call('SET', P .. 'inputs:' .. id, inputs) end
  redis.call('ZADD', P .. 'jobs', seq, id)
  redis.call('ZADD', P .. 'state:QUEUED', seq, id)
  wake(id)
  return {'queued', now}

elseif op == 'claim' then
  -- A claim that finds nothing records that its store (ARGV[9]) waits, until now + ARGV[8] ms (it looks again
  -- before then); one that finds a job takes the record away unless other claims of the store are under way
  -- (ARGV[10] = '1').
  local worker, visibility, max_attempts, token, waits, store, others = ARGV[4], tonumber(ARGV[5]),
    tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8]), ARGV[9], ARGV[10] == '1'
  local now = now_ms()
  local function lease(job, fresh)
    if not others then redis.call('ZREM', P .. 'waiting', store) end
    return take(job, worker, token, visibility, fresh)
  end
  -- First what was given back and what dead workers left (leases past their deadline), oldest deadline first.
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', '(' .. now, 'LIMIT', 0, 100)) do
    local job = load(id)
    if job.state == 'QUEUED' then
      return lease(job, false)
    elseif job.state == 'RUNNING' then
      local attempts = tonumber(job.attempts)
      local err = 'attempt ' .. attempts .. ' lost its lease: worker ' .. (job.worker or '?')
        .. ' stopped renewing it (it died or hung)'
      if job.cancel == '1' then
        finish(job, 'CANCELLED')
        publish_state(job, nil)
      elseif attempts >= max_attempts then
        append_error(job, err)
        finish(job, 'FAILED')
        publish_state(job, err)
      else
        append_error(job, err)
        return lease(job, false)
      end
    else
      redis.call('ZREM', P .. 'leases', id)
    end
  end
  -- Then new entries, highest priority first; within a priority the stream is oldest first.
  for _, priority in ipairs(redis.call('ZREVRANGE', P .. 'priorities', 0, -1)) do
    local stream = P .. 'queue:' .. priority
    while true do
      local read = redis.call('XREADGROUP', 'GROUP', group, worker, 'COUNT', 1, 'STREAMS', stream, '>')
      if not read then break end
      local entry = read[1][2][1]
      local job = load(entry[2][2])
      if job.state == 'QUEUED' then
        return lease(job, true)
      end
      redis.call('XACK', stream, group, entry[1])
      redis.call('XDEL', stream, entry[1])
    end
  end
  redis.call('ZREMRANGEBYSCORE', P .. 'waiting', '-inf', '(' .. now)
  redis.call('ZADD', P .. 'waiting', now + waits, store)
  return {'none'}

elseif op == 'renew' then
  local id, token, visibility = ARGV[4], ARGV[5], tonumber(ARGV[6])
  local job = load(id)
  if not held(job, token) then return {'lost'} end
  if job.cancel == '1' then
    finish(job, 'CANCELLED')
    publish_state(job, nil)
    return {'cancelled'}
  end
  local deadline = now_ms() + visibility
  redis.call('HSET', job.key, 'lease_until', deadline)
  redis.call('ZADD', P .. 'leases', deadline, id)
  return {'renewed'}

elseif op == 'progress' then
  local id, token, progress = ARGV[4], ARGV[5], ARGV[6]
  local key = job_key(id)
  local state = redis.call('HMGET', key, 'state', 'token')
  if state[1] ~= 'RUNNING' or state[2] ~= token then return {'lost'} end
  redis.call('HSET', key, 'progress', progress)
  for i = 7, #ARGV do
    redis.call('PUBLISH', P .. 'events:' .. id, ARGV[i])
  end
  return {'recorded'}

elseif op == 'succeed' then
  -- ARGV[7] = the attempt's last progress ('' for none) and ARGV[8]... its last events: relayed before the
  -- outcome, as 'progress' would, so that a finished job costs one call.
  local id, token, outputs, progress = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  local job = load(id)
  if not held(job, token) then return {'lost'} end
  for i = 8, #ARGV do
    redis.call('PUBLISH', P .. 'events:' .. id, ARGV[i])
  end
  if job.cancel == '1' then
    if progress ~= '' then
      finish(job, 'CANCELLED', 'progress', progress)
    else
      finish(job, 'CANCELLED')
    end
  else
    finish(job, 'SUCCEEDED', 'outputs', outputs, 'progress', 1)
  end
  publish_state(job, nil)
  return {string.lower(job.state)}

elseif op == 'fail' then
  local id, token, err, retryable, max_attempts = ARGV[4], ARGV[5], ARGV[6], ARGV[7] == '1', tonumber(ARGV[8])
  local job = load(id)
  if not held(job, token) then return {'lost', hash(job.key)} end
  if job.cancel == '1' then
    finish(job, 'CANCELLED')
    publish_state(job, nil)
  else
    append_error(job, err)
    if retryable and tonumber(job.attempts) < max_attempts then
      requeue(job, false)
    else
      finish(job, 'FAILED')
    end
    publish_state(job, err)
  end
  return {string.lower(job.state), hash(job.key)}

elseif op == 'release' then
  local id, token = ARGV[4], ARGV[5]
  local job = load(id)
  if not held(job, token) then return {'lost'} end
  if job.cancel == '1' then
    finish(job, 'CANCELLED')
  else
    requeue(job, true)
  end
  publish_state(job, nil)
  return {string.lower(job.state)}

elseif op == 'cancel' then
  local id = ARGV[4]
  local job = load(id)
  if not job.state then return {'unknown', {}} end
  if job.state == 'QUEUED' then
    finish(job, 'CANCELLED')
  elseif job.state == 'RUNNING' and job.cancel ~= '1' then
    redis.call('HSET', job.key, 'cancel', 1)
    job.cancel = '1'
  else
    return {'unchanged', hash(job.key)}
  end
  publish_state(job, nil)
  return {'changed', hash(job.key)}

elseif op == 'prune' then
  -- Finished jobs that finished before ARGV[4] (epoch ms), at most ARGV[5] of them, oldest first: gone with their
  -- inputs. Answers their ids.
  local ids = redis.call('ZRANGEBYSCORE', P .. 'finished', '-inf', '(' .. ARGV[4], 'LIMIT', 0, tonumber(ARGV[5]))
  for _, id in ipairs(ids) do
    local state = redis.call('HGET', job_key(id), 'state')
    if state then redis.call('ZREM', P .. 'state:' .. state, id) end
    if state == 'FAILED' then redis.call('LREM', P .. 'dead', 0, id) end
    redis.call('ZREM', P .. 'jobs', id)
    redis.call('ZREM', P .. 'finished', id)
    redis.call('DEL', job_key(id), P .. 'inputs:' .. id)
  end
  return ids

elseif op == 'forget' then
  -- Consumers holding no entry: this store's workers (ARGV[5]...), and any idle past ARGV[4] ms (dead daemons').
  local threshold, mine, removed = tonumber(ARGV[4]), {}, 0
  for i = 5, #ARGV do mine[ARGV[i]] = true end
  for _, priority in ipairs(redis.call('ZRANGE', P .. 'priorities', 0, -1)) do
    local stream = P .. 'queue:' .. priority
    for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', stream, group)) do
      local info = {}
      for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
      if info.pending == 0 and (mine[info.name] or info.idle > threshold) then
        redis.call('XGROUP', 'DELCONSUMER', stream, group, info.name)
        removed = removed + 1
      end
    end
  end
  return {'forgotten', removed}
end
return redis.error_reply('unknown job store operation ' .. tostring(op))
