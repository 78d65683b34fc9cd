-- Every change of a job in the Redis job store, each one atomic (see RedisJobStore for the layout).
-- ARGV[1] = operation, ARGV[2] = key prefix, ARGV[3] = consumer group; the rest depends on the operation.
-- Each operation answers {outcome, job hash as a flat field/value list}; the job's 'state' event is published
-- here, in the same step as the change, so that no daemon sees a change without its event.
local op, P, group = ARGV[1], ARGV[2], ARGV[3]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function job_key(id) return P .. 'job:' .. id end

local function hash(key) return redis.call('HGETALL', key) end

local function field(key, name) return redis.call('HGET', key, name) end

local function publish_state(id, err)
  local key = job_key(id)
  local data = {state = string.lower(field(key, 'state')), attempt = tonumber(field(key, 'attempts'))}
  local worker = field(key, 'worker')
  if worker then data.worker = worker end
  if err then data.error = err end
  local state = field(key, 'state')
  if field(key, 'cancel') == '1' and (state == 'QUEUED' or state == 'RUNNING') then data.cancelRequested = true end
  redis.call('PUBLISH', P .. 'events:' .. id,
    cjson.encode({jobId = id, at = now_ms(), type = 'state', json = cjson.encode(data)}))
end

local function set_state(id, new)
  local key = job_key(id)
  local seq = field(key, 'seq')
  redis.call('ZREM', P .. 'state:' .. field(key, 'state'), id)
  redis.call('ZADD', P .. 'state:' .. new, seq, id)
  redis.call('HSET', key, 'state', new)
end

local function append_error(id, err)
  local key = job_key(id)
  local errors = cjson.decode(field(key, 'errors'))
  table.insert(errors, err)
  redis.call('HSET', key, 'errors', cjson.encode(errors))
end

-- The job's stream entry leaves the stream and the group's pending list: nobody can claim it again.
local function finish(id, state, now)
  local key = job_key(id)
  set_state(id, state)
  redis.call('HSET', key, 'finished', now)
  redis.call('HDEL', key, 'worker', 'token', 'lease_until')
  redis.call('ZREM', P .. 'leases', id)
  local stream, entry = field(key, 'stream'), field(key, 'entry')
  redis.call('XACK', stream, group, entry)
  redis.call('XDEL', stream, entry)
  if state == 'FAILED' then redis.call('LPUSH', P .. 'dead', id) end
end

-- Back in the queue, its entry left pending in the group and its lease at 0 (long expired): the next claim takes
-- it before new entries.
local function requeue(id, give_back_attempt)
  local key = job_key(id)
  set_state(id, 'QUEUED')
  redis.call('HDEL', key, 'worker', 'token', 'lease_until', 'started')
  redis.call('ZADD', P .. 'leases', 0, id)
  redis.call('HSET', key, 'progress', 0)
  if give_back_attempt then redis.call('HINCRBY', key, 'attempts', -1) end
  redis.call('PUBLISH', P .. 'wake', id)
end

local function held(id, token)
  local key = job_key(id)
  return field(key, 'state') == 'RUNNING' and field(key, 'token') == token
end

local function take(id, worker, token, visibility, now)
  local key = job_key(id)
  redis.call('XCLAIM', field(key, 'stream'), group, worker, 0, field(key, 'entry'), 'JUSTID')
  set_state(id, 'RUNNING')
  redis.call('HINCRBY', key, 'attempts', 1)
  redis.call('HSET', key, 'worker', worker, 'token', token, 'lease_until', now + visibility, 'progress', 0,
    'started', now)
  redis.call('ZADD', P .. 'leases', now + visibility, id)
  publish_state(id, nil)
  return {'claimed', hash(key), redis.call('GET', P .. 'inputs:' .. id) or ''}
end

if op == 'enqueue' then
  local id, prompt, priority, webhook, inputs = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
  local key, now = job_key(id), now_ms()
  local seq = redis.call('INCR', P .. 'seq')
  local stream = P .. 'queue:' .. priority
  redis.pcall('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
  local entry = redis.call('XADD', stream, '*', 'job', id)
  redis.call('HSET', key, 'id', id, 'state', 'QUEUED', 'prompt', prompt, 'priority', priority, 'attempts', 0,
    'progress', 0, 'errors', '[]', 'outputs', '[]', 'created', now, 'cancel', 0, 'seq', seq, 'stream', stream,
    'entry', entry)
  if webhook ~= '' then redis.call('HSET', key, 'webhook', webhook) end
  if inputs ~= '' then redis.call('SET', P .. 'inputs:' .. id, inputs) end
  redis.call('ZADD', P .. 'jobs', seq, id)
  redis.call('ZADD', P .. 'state:QUEUED', seq, id)
  redis.call('ZADD', P .. 'priorities', tonumber(priority), priority)
  publish_state(id, nil)
  redis.call('PUBLISH', P .. 'wake', id)
  return {'queued', hash(key)}

elseif op == 'claim' then
  local worker, visibility, max_attempts, token = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
  local now = now_ms()
  local priorities = redis.call('ZREVRANGE', P .. 'priorities', 0, -1)
  -- First what was given back and what dead workers left (leases past their deadline), oldest deadline first.
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', '(' .. now, 'LIMIT', 0, 100)) do
    local key = job_key(id)
    local state = field(key, 'state')
    if state == 'QUEUED' then
      return take(id, worker, token, visibility, now)
    elseif state == 'RUNNING' then
      local attempts = tonumber(field(key, 'attempts'))
      local err = 'attempt ' .. attempts .. ' lost its lease: worker ' .. (field(key, 'worker') or '?')
        .. ' stopped renewing it (it died or hung)'
      if field(key, 'cancel') == '1' then
        finish(id, 'CANCELLED', now)
        publish_state(id, nil)
      elseif attempts >= max_attempts then
        append_error(id, err)
        finish(id, 'FAILED', now)
        publish_state(id, err)
      else
        append_error(id, err)
        return take(id, worker, token, visibility, now)
      end
    else
      redis.call('ZREM', P .. 'leases', id)
    end
  end
  -- Then new entries, highest priority first; within a priority the stream is oldest first.
  for _, priority in ipairs(priorities) do
    local stream = P .. 'queue:' .. priority
    while true do
      local read = redis.call('XREADGROUP', 'GROUP', group, worker, 'COUNT', 1, 'STREAMS', stream, '>')
      if not read then break end
      local entry = read[1][2][1]
      local id = entry[2][2]
      if field(job_key(id), 'state') == 'QUEUED' then
        return take(id, worker, token, visibility, now)
      end
      redis.call('XACK', stream, group, entry[1])
      redis.call('XDEL', stream, entry[1])
    end
  end
  return {'none', {}}

elseif op == 'renew' then
  local id, token, visibility = ARGV[4], ARGV[5], tonumber(ARGV[6])
  local key = job_key(id)
  if not held(id, token) then return {'lost', hash(key)} end
  if field(key, 'cancel') == '1' then
    finish(id, 'CANCELLED', now_ms())
    publish_state(id, nil)
    return {'cancelled', hash(key)}
  end
  local deadline = now_ms() + visibility
  redis.call('HSET', key, 'lease_until', deadline)
  redis.call('ZADD', P .. 'leases', deadline, id)
  return {'renewed', {}}

elseif op == 'progress' then
  local id, token, progress = ARGV[4], ARGV[5], ARGV[6]
  if not held(id, token) then return {'lost', {}} end
  redis.call('HSET', job_key(id), 'progress', progress)
  for i = 7, #ARGV do
    redis.call('PUBLISH', P .. 'events:' .. id, ARGV[i])
  end
  return {'recorded', {}}

elseif op == 'succeed' then
  local id, token, outputs = ARGV[4], ARGV[5], ARGV[6]
  local key = job_key(id)
  if not held(id, token) then return {'lost', hash(key)} end
  if field(key, 'cancel') == '1' then
    finish(id, 'CANCELLED', now_ms())
  else
    redis.call('HSET', key, 'outputs', outputs, 'progress', 1)
    finish(id, 'SUCCEEDED', now_ms())
  end
  publish_state(id, nil)
  return {string.lower(field(key, 'state')), hash(key)}

elseif op == 'fail' then
  local id, token, err, retryable, max_attempts = ARGV[4], ARGV[5], ARGV[6], ARGV[7] == '1', tonumber(ARGV[8])
  local key = job_key(id)
  if not held(id, token) then return {'lost', hash(key)} end
  if field(key, 'cancel') == '1' then
    finish(id, 'CANCELLED', now_ms())
    publish_state(id, nil)
  else
    append_error(id, err)
    if retryable and tonumber(field(key, 'attempts')) < max_attempts then
      requeue(id, false)
    else
      finish(id, 'FAILED', now_ms())
    end
    publish_state(id, err)
  end
  return {string.lower(field(key, 'state')), hash(key)}

elseif op == 'release' then
  local id, token = ARGV[4], ARGV[5]
  local key = job_key(id)
  if not held(id, token) then return {'lost', hash(key)} end
  if field(key, 'cancel') == '1' then
    finish(id, 'CANCELLED', now_ms())
  else
    requeue(id, true)
  end
  publish_state(id, nil)
  return {string.lower(field(key, 'state')), hash(key)}

elseif op == 'cancel' then
  local id = ARGV[4]
  local key = job_key(id)
  local state = field(key, 'state')
  if not state then return {'unknown', {}} end
  if state == 'QUEUED' then
    finish(id, 'CANCELLED', now_ms())
  elseif state == 'RUNNING' and field(key, 'cancel') ~= '1' then
    redis.call('HSET', key, 'cancel', 1)
  else
    return {'unchanged', hash(key)}
  end
  publish_state(id, nil)
  return {'changed', hash(key)}

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
