// A reference component for one client's page in the CPA's app: the live badge, a link button,
// the banks and accounts (disconnect, remove, exclude), and a paged transactions table where the
// CPA marks rows reviewed and keeps a category, tax line and note that survive every sync.
// It compiles against obClient.ts and the generated types; style it as the app does.
import { useCallback, useEffect, useState } from 'react'
import {
  BADGE_LABELS,
  annotate,
  disconnectBank,
  getStatus,
  listAccounts,
  listBanks,
  pageTransactions,
  removeAccount,
  requestLink,
  requestRefresh,
  setAccountExcluded,
  watchClients,
  type Account,
  type AnnotatedTransaction,
  type AnnotationChanges,
  type Badge,
  type Bank,
  type ClientStatus,
  type ObClient,
  type TransactionPage,
} from './obClient'

const BADGE_COLORS: Record<Badge, string> = {
  not_linked: '#6b7280',
  pending: '#b45309',
  linked: '#15803d',
  error: '#b91c1c',
  needs_reauth: '#7c3aed',
}

export function StatusBadge({ badge }: { badge: Badge }) {
  return (
    <span style={{ color: 'white', background: BADGE_COLORS[badge], borderRadius: 8, padding: '2px 8px' }}>
      {BADGE_LABELS[badge]}
    </span>
  )
}

export function LinkButton(props: { sb: ObClient; clientId: string; email: string; firstName?: string }) {
  const [state, setState] = useState<'idle' | 'sending' | 'sent' | 'failed'>('idle')
  const [message, setMessage] = useState<string | null>(null)
  const send = async () => {
    setState('sending')
    try {
      await requestLink(props.sb, props.clientId, props.email, props.firstName)
      setState('sent')
      setMessage(`Link request queued for ${props.email}.`)
    } catch (err) {
      setState('failed')
      setMessage(err instanceof Error ? err.message : String(err))
    }
  }
  return (
    <span>
      <button type="button" disabled={state === 'sending'} onClick={() => void send()}>
        Send bank-link request
      </button>
      {message && <small role="status"> {message}</small>}
    </span>
  )
}

function money(amount: number | null, currency = 'USD'): string {
  return amount === null ? '—' : amount.toLocaleString(undefined, { style: 'currency', currency })
}

export function AccountsList(props: {
  sb: ObClient
  clientId: string
  banks: Bank[]
  accounts: Account[]
  selected: string | null
  onSelect: (accountId: string) => void
  onChanged: () => void
}) {
  const { sb, clientId } = props
  const act = (work: Promise<unknown>) => void work.then(props.onChanged, (err: unknown) => alert(String(err)))
  return (
    <div>
      {props.banks.map((bank) => (
        <section key={bank.id}>
          <h3>
            {bank.institution?.logo_url && <img src={bank.institution.logo_url} alt="" height={24} />}{' '}
            {bank.institution?.name ?? bank.institution_name ?? `Bank ${bank.institution_id ?? ''}`}
            {bank.needs_reauth && <small> (needs re-consent)</small>}{' '}
            <button type="button" onClick={() => act(disconnectBank(sb, clientId, bank.id))}>
              Disconnect
            </button>
          </h3>
          <ul>
            {props.accounts
              .filter((a) => a.institution_login_id === bank.id)
              .map((a) => (
                <li key={a.id} style={{ fontWeight: a.id === props.selected ? 'bold' : 'normal' }}>
                  <button type="button" onClick={() => props.onSelect(a.id)}>
                    {a.name ?? a.type} {a.number_masked}
                  </button>{' '}
                  {money(a.balance, a.currency)} {a.last_updated_at && <small>updated {a.last_updated_at}</small>}{' '}
                  <label>
                    <input
                      type="checkbox"
                      checked={a.sync_excluded}
                      onChange={(e) => act(setAccountExcluded(sb, clientId, a.id, e.target.checked))}
                    />{' '}
                    excluded from syncing
                  </label>{' '}
                  <button type="button" onClick={() => act(removeAccount(sb, clientId, a.id))}>
                    Remove
                  </button>
                </li>
              ))}
          </ul>
        </section>
      ))}
    </div>
  )
}

function NoteCell(props: { row: AnnotatedTransaction; onSave: (changes: AnnotationChanges) => void }) {
  const [note, setNote] = useState(props.row.note ?? '')
  return (
    <input
      value={note}
      placeholder="note"
      onChange={(e) => setNote(e.target.value)}
      onBlur={() => note !== (props.row.note ?? '') && props.onSave({ note: note || null })}
    />
  )
}

export function TransactionsTable(props: { sb: ObClient; accountId: string; pageSize?: number }) {
  const { sb, accountId } = props
  const [page, setPage] = useState(0)
  const [data, setData] = useState<TransactionPage | null>(null)
  const [error, setError] = useState<string | null>(null)
  const load = useCallback(() => {
    pageTransactions(sb, accountId, page, props.pageSize ?? 50).then(setData, (err: unknown) => setError(String(err)))
  }, [sb, accountId, page, props.pageSize])
  useEffect(load, [load])

  const save = (row: AnnotatedTransaction, changes: AnnotationChanges) => {
    if (row.account_id === null || row.id === null) return
    annotate(sb, row.account_id, row.id, changes).then(load, (err: unknown) => setError(String(err)))
  }
  if (error) return <p role="alert">{error}</p>
  if (!data) return <p>Loading…</p>
  const pages = Math.max(1, Math.ceil(data.total / data.pageSize))
  return (
    <div>
      <table>
        <thead>
          <tr>
            <th>Date</th><th>Description</th><th>Amount</th><th>Bank category</th>
            <th>Category</th><th>Tax line</th><th>Note</th><th>Reviewed</th>
          </tr>
        </thead>
        <tbody>
          {data.rows.map((row) => (
            <tr key={`${row.account_id}:${row.id}`} style={{ opacity: row.status === 'pending' ? 0.6 : 1 }}>
              <td>{row.effective_at?.slice(0, 10)}</td>
              <td>{row.description ?? row.payee}</td>
              <td style={{ textAlign: 'right' }}>{money(row.amount)}</td>
              <td>{row.category}</td>
              <td>
                <input defaultValue={row.cpa_category ?? ''} onBlur={(e) => save(row, { category: e.target.value || null })} />
              </td>
              <td>
                <input defaultValue={row.tax_line ?? ''} onBlur={(e) => save(row, { tax_line: e.target.value || null })} />
              </td>
              <td>
                <NoteCell row={row} onSave={(changes) => save(row, changes)} />
              </td>
              <td>
                <input type="checkbox" checked={row.reviewed ?? false} onChange={(e) => save(row, { reviewed: e.target.checked })} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>Newer</button>
      <span> page {page + 1} of {pages} </span>
      <button type="button" disabled={page + 1 >= pages} onClick={() => setPage(page + 1)}>Older</button>
    </div>
  )
}

/** One client's page: everything above, kept live by Realtime. */
export function ClientWorkspace(props: { sb: ObClient; clientId: string; email: string; firstName?: string }) {
  const { sb, clientId } = props
  const [status, setStatus] = useState<ClientStatus | null>(null)
  const [banks, setBanks] = useState<Bank[]>([])
  const [accounts, setAccounts] = useState<Account[]>([])
  const [selected, setSelected] = useState<string | null>(null)
  const reload = useCallback(() => {
    void getStatus(sb, clientId).then(setStatus)
    void listBanks(sb, clientId).then(setBanks)
    void listAccounts(sb, clientId).then(setAccounts)
  }, [sb, clientId])
  useEffect(reload, [reload])
  useEffect(() => watchClients(sb, (changed) => changed === clientId && reload()), [sb, clientId, reload])

  return (
    <div>
      <header>
        {status && <StatusBadge badge={status.badge} />}{' '}
        {status?.institution_names?.join(', ')}{' '}
        {status?.last_error_message && <small role="alert">{status.last_error_message}</small>}{' '}
        <LinkButton sb={sb} clientId={clientId} email={props.email} firstName={props.firstName} />{' '}
        <button type="button" onClick={() => void requestRefresh(sb, clientId)}>Refresh now</button>
      </header>
      <AccountsList
        sb={sb}
        clientId={clientId}
        banks={banks}
        accounts={accounts}
        selected={selected}
        onSelect={setSelected}
        onChanged={reload}
      />
      {selected && <TransactionsTable sb={sb} accountId={selected} />}
    </div>
  )
}
