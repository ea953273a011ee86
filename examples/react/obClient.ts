// A typed client for the React app: every read and request the CPA's screens need, on supabase-js
// with the generated types (supabase/types.ts, `make types`). Copy this file into the app.
//
// Everything runs with the signed-in CPA's session: row-level security returns only their own
// clients' rows and lets them insert only request rows and annotations. Errors are thrown as
// ObError with the database's message, which is written to be shown to the CPA as it is.
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import type { Database, Tables, TablesInsert } from '../../supabase/types'

export type ObClient = SupabaseClient<Database>

export function createObClient(supabaseUrl: string, anonKey: string): ObClient {
  return createClient<Database>(supabaseUrl, anonKey)
}

export class ObError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message)
    this.name = 'ObError'
  }
}

function must<T>(result: { data: T | null; error: { message: string; code?: string } | null }): T {
  if (result.error) throw new ObError(result.error.message, result.error.code)
  if (result.data === null) throw new ObError('No data returned.')
  return result.data
}

// ---- status badges --------------------------------------------------------------------------------

export const BADGES = ['not_linked', 'pending', 'linked', 'error', 'needs_reauth'] as const
export type Badge = (typeof BADGES)[number]

export const BADGE_LABELS: Record<Badge, string> = {
  not_linked: 'Not linked',
  pending: 'Pending',
  linked: 'Linked',
  error: 'Error',
  needs_reauth: 'Needs re-consent',
}

export type ClientStatus = Omit<Tables<'open_banking_client_status'>, 'badge' | 'platform_client_id'> & {
  platform_client_id: string
  badge: Badge
}

function isBadge(value: string | null): value is Badge {
  return value !== null && (BADGES as readonly string[]).includes(value)
}

function toStatus(row: Tables<'open_banking_client_status'>): ClientStatus {
  if (row.platform_client_id === null || !isBadge(row.badge)) throw new ObError('Unexpected status row.')
  return { ...row, platform_client_id: row.platform_client_id, badge: row.badge }
}

/** One row per client the CPA owns: the badge, banks, last sync, last error, next consent expiry. */
export async function listStatuses(sb: ObClient): Promise<ClientStatus[]> {
  return must(await sb.from('open_banking_client_status').select('*')).map(toStatus)
}

export async function getStatus(sb: ObClient, clientId: string): Promise<ClientStatus | null> {
  const rows = must(await sb.from('open_banking_client_status').select('*').eq('platform_client_id', clientId).limit(1))
  return rows[0] ? toStatus(rows[0]) : null
}

/** The tables whose changes move a badge or a request row; all in the supabase_realtime publication. */
export const LIVE_TABLES = [
  'open_banking_customers',
  'open_banking_institution_logins',
  'open_banking_link_requests',
  'open_banking_sync_requests',
  'open_banking_account_requests',
  'open_banking_document_requests',
] as const

/**
 * Live badges: calls onChange(clientId) whenever something behind that client's badge or requests
 * changes (Realtime applies the same RLS, so only the CPA's own clients arrive). Re-read the status
 * with getStatus. Returns the unsubscribe function.
 */
export function watchClients(sb: ObClient, onChange: (clientId: string) => void): () => void {
  const channel = sb.channel('ob-badges')
  for (const table of LIVE_TABLES) {
    channel.on('postgres_changes', { event: '*', schema: 'public', table }, (payload) => {
      const row: Record<string, unknown> = Object.keys(payload.new).length > 0 ? payload.new : payload.old
      const clientId = row['platform_client_id']
      if (typeof clientId === 'string') onChange(clientId)
    })
  }
  channel.subscribe()
  return () => {
    void sb.removeChannel(channel)
  }
}

// ---- banks and accounts ---------------------------------------------------------------------------

// One string literal, so supabase-js can type the rows from it (a misspelt column fails tsc).
const ACCOUNT_COLUMNS =
  'id, name, type, status, number_masked, currency, balance, balance_date, last_updated_at, institution_id, institution_name, institution_login_id, sync_excluded, display_position'

export type Account = Pick<
  Tables<'open_banking_accounts'>,
  | 'id' | 'name' | 'type' | 'status' | 'number_masked' | 'currency' | 'balance' | 'balance_date'
  | 'last_updated_at' | 'institution_id' | 'institution_name' | 'institution_login_id' | 'sync_excluded'
  | 'display_position'
>

/** A client's accounts (masked numbers only), in the bank's display order. */
export async function listAccounts(sb: ObClient, clientId: string): Promise<Account[]> {
  return must(
    await sb
      .from('open_banking_accounts')
      .select(ACCOUNT_COLUMNS)
      .eq('platform_client_id', clientId)
      .order('display_position', { ascending: true, nullsFirst: false }),
  )
}

export type Bank = Pick<
  Tables<'open_banking_institution_logins'>,
  'id' | 'institution_id' | 'institution_name' | 'status' | 'needs_reauth' | 'authorization_end_at'
> & { institution: Institution | null }

export type Institution = Pick<
  Tables<'open_banking_institutions'>,
  'id' | 'name' | 'url_home_app' | 'logo_url' | 'icon_url' | 'primary_color'
>

/** A client's bank connections, each with its institution's name, URL and logo. */
export async function listBanks(sb: ObClient, clientId: string): Promise<Bank[]> {
  const logins = must(
    await sb
      .from('open_banking_institution_logins')
      .select('id, institution_id, institution_name, status, needs_reauth, authorization_end_at')
      .eq('platform_client_id', clientId)
      .order('id'),
  )
  const ids = [...new Set(logins.map((l) => l.institution_id).filter((id): id is string => id !== null))]
  const institutions = ids.length
    ? must(
        await sb
          .from('open_banking_institutions')
          .select('id, name, url_home_app, logo_url, icon_url, primary_color')
          .in('id', ids),
      )
    : []
  const byId = new Map(institutions.map((i) => [i.id, i]))
  return logins.map((l) => ({ ...l, institution: (l.institution_id && byId.get(l.institution_id)) || null }))
}

// ---- transactions with the CPA's annotations -------------------------------------------------------

export type AnnotatedTransaction = Tables<'open_banking_transactions_annotated'>

export interface TransactionPage {
  rows: AnnotatedTransaction[]
  total: number
  page: number
  pageSize: number
}

/** One account's transactions, newest first, with the CPA's category, tax line, note and review. */
export async function pageTransactions(
  sb: ObClient,
  accountId: string,
  page = 0,
  pageSize = 50,
): Promise<TransactionPage> {
  const from = page * pageSize
  const result = await sb
    .from('open_banking_transactions_annotated')
    .select('*', { count: 'exact' })
    .eq('account_id', accountId)
    .order('effective_at', { ascending: false })
    .order('id', { ascending: false })
    .range(from, from + pageSize - 1)
  return { rows: must(result), total: result.count ?? 0, page, pageSize }
}

export type AnnotationChanges = Partial<
  Pick<TablesInsert<'open_banking_transaction_annotations'>, 'category' | 'tax_line' | 'note' | 'reviewed'>
>

/** Set some of a transaction's annotation columns (the others keep their values). */
export async function annotate(
  sb: ObClient,
  accountId: string,
  transactionId: number,
  changes: AnnotationChanges,
): Promise<void> {
  const table = () => sb.from('open_banking_transaction_annotations')
  const updated = must(
    await table().update(changes).eq('account_id', accountId).eq('transaction_id', transactionId).select('account_id'),
  )
  if (updated.length > 0) return
  // platform_client_id is NOT NULL but set by the database from the transaction (the CPA may not
  // send it: no column privilege); the generated Insert type cannot know that, hence the cast.
  const row: Omit<TablesInsert<'open_banking_transaction_annotations'>, 'platform_client_id'> = {
    account_id: accountId,
    transaction_id: transactionId,
    ...changes,
  }
  const inserted = await table().insert(row as TablesInsert<'open_banking_transaction_annotations'>)
  if (inserted.error?.code === '23505') return annotate(sb, accountId, transactionId, changes) // a concurrent first note
  if (inserted.error) throw new ObError(inserted.error.message, inserted.error.code)
}

export async function clearAnnotation(sb: ObClient, accountId: string, transactionId: number): Promise<void> {
  const result = await sb
    .from('open_banking_transaction_annotations')
    .delete()
    .eq('account_id', accountId)
    .eq('transaction_id', transactionId)
  if (result.error) throw new ObError(result.error.message, result.error.code)
}

// ---- requests (the service carries them out; watch them with watchClients) ------------------------

export type LinkRequest = Tables<'open_banking_link_requests'>
export type SyncRequest = Tables<'open_banking_sync_requests'>
export type AccountRequest = Tables<'open_banking_account_requests'>

/** "Send bank-link request": queued -> sending -> sent (link, ttl_expires_at) or failed (error_message). */
export async function requestLink(
  sb: ObClient,
  clientId: string,
  email: string,
  firstName?: string,
): Promise<LinkRequest> {
  return must(
    await sb
      .from('open_banking_link_requests')
      .insert({ platform_client_id: clientId, email_to: email, first_name: firstName ?? null })
      .select()
      .single(),
  )
}

/** A Connect Fix link for one bank connection (needs_reauth): ends `ready` with `link` to show the client. */
export async function requestFixLink(sb: ObClient, clientId: string, institutionLoginId: number): Promise<LinkRequest> {
  return must(
    await sb
      .from('open_banking_link_requests')
      .insert({ platform_client_id: clientId, kind: 'fix', institution_login_id: institutionLoginId })
      .select()
      .single(),
  )
}

/** "Refresh now": queued -> running -> succeeded (accounts_synced, transactions_synced) or failed. */
export async function requestRefresh(sb: ObClient, clientId: string): Promise<SyncRequest> {
  return must(await sb.from('open_banking_sync_requests').insert({ platform_client_id: clientId }).select().single())
}

async function accountRequest(sb: ObClient, row: TablesInsert<'open_banking_account_requests'>): Promise<AccountRequest> {
  return must(await sb.from('open_banking_account_requests').insert(row).select().single())
}

/** Disconnect one bank: Mastercard stops access; that bank's accounts and transactions are removed. */
export function disconnectBank(sb: ObClient, clientId: string, institutionLoginId: number): Promise<AccountRequest> {
  return accountRequest(sb, { platform_client_id: clientId, action: 'disconnect_login', institution_login_id: institutionLoginId })
}

/** Remove one account (e.g. linked by mistake): its siblings at the same bank stay. */
export function removeAccount(sb: ObClient, clientId: string, accountId: string): Promise<AccountRequest> {
  return accountRequest(sb, { platform_client_id: clientId, action: 'remove_account', account_id: accountId })
}

export type DocumentRequest = Tables<'open_banking_document_requests'>
export type DocumentRow = Tables<'open_banking_documents'>

/** Bank statements (PDF, by month) or an accountant export (csv / ofx / qbo) for a period. */
export async function requestDocuments(
  sb: ObClient,
  row: Omit<TablesInsert<'open_banking_document_requests'>, 'requested_by' | 'status'>,
): Promise<DocumentRequest> {
  return must(await sb.from('open_banking_document_requests').insert(row).select().single())
}

/** A client's documents, newest first; the files are in Storage at `storage_path` (private bucket). */
export async function listDocuments(sb: ObClient, clientId: string): Promise<DocumentRow[]> {
  return must(
    await sb
      .from('open_banking_documents')
      .select('*')
      .eq('platform_client_id', clientId)
      .order('created_at', { ascending: false }),
  )
}

/** Stop (or resume) syncing one account while keeping its link and what was already read. */
export function setAccountExcluded(
  sb: ObClient,
  clientId: string,
  accountId: string,
  excluded: boolean,
): Promise<AccountRequest> {
  return accountRequest(sb, {
    platform_client_id: clientId,
    action: excluded ? 'exclude_account' : 'include_account',
    account_id: accountId,
  })
}
