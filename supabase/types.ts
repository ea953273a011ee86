export type Json =
  | string
  | number
  | boolean
  | null
  | { [key: string]: Json | undefined }
  | Json[]

export type Database = {
  // Allows to automatically instantiate createClient with right options
  // instead of createClient<Database, { PostgrestVersion: 'XX' }>(URL, KEY)
  __InternalSupabase: {
    PostgrestVersion: "13"
  }
  public: {
    Tables: {
      clients: {
        Row: {
          id: string
          user_id: string
        }
        Insert: {
          id?: string
          user_id: string
        }
        Update: {
          id?: string
          user_id?: string
        }
        Relationships: []
      }
      open_banking_account_requests: {
        Row: {
          account_id: string | null
          accounts_removed: number | null
          action: string
          created_at: string
          error_message: string | null
          finished_at: string | null
          id: string
          institution_login_id: number | null
          platform_client_id: string
          requested_by: string | null
          status: string
          updated_at: string
        }
        Insert: {
          account_id?: string | null
          accounts_removed?: number | null
          action: string
          created_at?: string
          error_message?: string | null
          finished_at?: string | null
          id?: string
          institution_login_id?: number | null
          platform_client_id: string
          requested_by?: string | null
          status?: string
          updated_at?: string
        }
        Update: {
          account_id?: string | null
          accounts_removed?: number | null
          action?: string
          created_at?: string
          error_message?: string | null
          finished_at?: string | null
          id?: string
          institution_login_id?: number | null
          platform_client_id?: string
          requested_by?: string | null
          status?: string
          updated_at?: string
        }
        Relationships: [
          {
            foreignKeyName: "open_banking_account_requests_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "clients"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_account_requests_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "open_banking_client_status"
            referencedColumns: ["platform_client_id"]
          },
        ]
      }
      open_banking_accounts: {
        Row: {
          aggregation_status_code: number | null
          balance: number | null
          balance_date: string | null
          created_at: string
          currency: string
          customer_id: string
          display_position: number | null
          id: string
          institution_id: string | null
          institution_login_id: number | null
          institution_name: string | null
          last_updated_at: string | null
          name: string | null
          number_masked: string | null
          platform_client_id: string
          source_fetched_at: string
          status: string | null
          sync_excluded: boolean
          sync_excluded_at: string | null
          type: string | null
          updated_at: string
        }
        Insert: {
          aggregation_status_code?: number | null
          balance?: number | null
          balance_date?: string | null
          created_at?: string
          currency?: string
          customer_id: string
          display_position?: number | null
          id: string
          institution_id?: string | null
          institution_login_id?: number | null
          institution_name?: string | null
          last_updated_at?: string | null
          name?: string | null
          number_masked?: string | null
          platform_client_id: string
          source_fetched_at: string
          status?: string | null
          sync_excluded?: boolean
          sync_excluded_at?: string | null
          type?: string | null
          updated_at?: string
        }
        Update: {
          aggregation_status_code?: number | null
          balance?: number | null
          balance_date?: string | null
          created_at?: string
          currency?: string
          customer_id?: string
          display_position?: number | null
          id?: string
          institution_id?: string | null
          institution_login_id?: number | null
          institution_name?: string | null
          last_updated_at?: string | null
          name?: string | null
          number_masked?: string | null
          platform_client_id?: string
          source_fetched_at?: string
          status?: string | null
          sync_excluded?: boolean
          sync_excluded_at?: string | null
          type?: string | null
          updated_at?: string
        }
        Relationships: [
          {
            foreignKeyName: "open_banking_accounts_customer_id_fkey"
            columns: ["customer_id"]
            isOneToOne: false
            referencedRelation: "open_banking_customers"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_accounts_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "clients"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_accounts_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "open_banking_client_status"
            referencedColumns: ["platform_client_id"]
          },
        ]
      }
      open_banking_balance_snapshots: {
        Row: {
          account_id: string
          balance: number | null
          captured_at: string
          currency: string
          platform_client_id: string
          snapshot_date: string
        }
        Insert: {
          account_id: string
          balance?: number | null
          captured_at: string
          currency?: string
          platform_client_id: string
          snapshot_date: string
        }
        Update: {
          account_id?: string
          balance?: number | null
          captured_at?: string
          currency?: string
          platform_client_id?: string
          snapshot_date?: string
        }
        Relationships: [
          {
            foreignKeyName: "open_banking_balance_snapshots_account_id_fkey"
            columns: ["account_id"]
            isOneToOne: false
            referencedRelation: "open_banking_accounts"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_balance_snapshots_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "clients"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_balance_snapshots_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "open_banking_client_status"
            referencedColumns: ["platform_client_id"]
          },
        ]
      }
      open_banking_customers: {
        Row: {
          created_at: string
          customer_type: string
          finicity_consumer_id: string | null
          finicity_customer_id: string | null
          finicity_username: string
          id: string
          last_error_code: string | null
          last_error_message: string | null
          last_sync_error: string | null
          last_synced_at: string | null
          link_status: string
          link_status_at: string | null
          platform_client_id: string
          updated_at: string
        }
        Insert: {
          created_at?: string
          customer_type: string
          finicity_consumer_id?: string | null
          finicity_customer_id?: string | null
          finicity_username: string
          id?: string
          last_error_code?: string | null
          last_error_message?: string | null
          last_sync_error?: string | null
          last_synced_at?: string | null
          link_status?: string
          link_status_at?: string | null
          platform_client_id: string
          updated_at?: string
        }
        Update: {
          created_at?: string
          customer_type?: string
          finicity_consumer_id?: string | null
          finicity_customer_id?: string | null
          finicity_username?: string
          id?: string
          last_error_code?: string | null
          last_error_message?: string | null
          last_sync_error?: string | null
          last_synced_at?: string | null
          link_status?: string
          link_status_at?: string | null
          platform_client_id?: string
          updated_at?: string
        }
        Relationships: [
          {
            foreignKeyName: "open_banking_customers_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: true
            referencedRelation: "clients"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_customers_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: true
            referencedRelation: "open_banking_client_status"
            referencedColumns: ["platform_client_id"]
          },
        ]
      }
      open_banking_document_requests: {
        Row: {
          account_ids: string[] | null
          created_at: string
          documents_failed: number | null
          documents_ready: number | null
          error_message: string | null
          finished_at: string | null
          formats: string[] | null
          from_date: string | null
          id: string
          include_pending: boolean
          kind: string
          last_n: number | null
          platform_client_id: string
          requested_by: string | null
          started_at: string | null
          statement_months: string[] | null
          status: string
          to_date: string | null
          updated_at: string
        }
        Insert: {
          account_ids?: string[] | null
          created_at?: string
          documents_failed?: number | null
          documents_ready?: number | null
          error_message?: string | null
          finished_at?: string | null
          formats?: string[] | null
          from_date?: string | null
          id?: string
          include_pending?: boolean
          kind: string
          last_n?: number | null
          platform_client_id: string
          requested_by?: string | null
          started_at?: string | null
          statement_months?: string[] | null
          status?: string
          to_date?: string | null
          updated_at?: string
        }
        Update: {
          account_ids?: string[] | null
          created_at?: string
          documents_failed?: number | null
          documents_ready?: number | null
          error_message?: string | null
          finished_at?: string | null
          formats?: string[] | null
          from_date?: string | null
          id?: string
          include_pending?: boolean
          kind?: string
          last_n?: number | null
          platform_client_id?: string
          requested_by?: string | null
          started_at?: string | null
          statement_months?: string[] | null
          status?: string
          to_date?: string | null
          updated_at?: string
        }
        Relationships: [
          {
            foreignKeyName: "open_banking_document_requests_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "clients"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_document_requests_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "open_banking_client_status"
            referencedColumns: ["platform_client_id"]
          },
        ]
      }
      open_banking_documents: {
        Row: {
          account_id: string | null
          created_at: string
          error_message: string | null
          format: string
          id: string
          kind: string
          period_end: string | null
          period_start: string | null
          platform_client_id: string
          request_id: string | null
          sha256: string | null
          size_bytes: number | null
          statement_month: string | null
          status: string
          storage_bucket: string
          storage_path: string | null
          total_amount: number | null
          transaction_count: number | null
          updated_at: string
        }
        Insert: {
          account_id?: string | null
          created_at?: string
          error_message?: string | null
          format: string
          id?: string
          kind: string
          period_end?: string | null
          period_start?: string | null
          platform_client_id: string
          request_id?: string | null
          sha256?: string | null
          size_bytes?: number | null
          statement_month?: string | null
          status: string
          storage_bucket?: string
          storage_path?: string | null
          total_amount?: number | null
          transaction_count?: number | null
          updated_at?: string
        }
        Update: {
          account_id?: string | null
          created_at?: string
          error_message?: string | null
          format?: string
          id?: string
          kind?: string
          period_end?: string | null
          period_start?: string | null
          platform_client_id?: string
          request_id?: string | null
          sha256?: string | null
          size_bytes?: number | null
          statement_month?: string | null
          status?: string
          storage_bucket?: string
          storage_path?: string | null
          total_amount?: number | null
          transaction_count?: number | null
          updated_at?: string
        }
        Relationships: [
          {
            foreignKeyName: "open_banking_documents_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "clients"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_documents_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "open_banking_client_status"
            referencedColumns: ["platform_client_id"]
          },
          {
            foreignKeyName: "open_banking_documents_request_id_fkey"
            columns: ["request_id"]
            isOneToOne: false
            referencedRelation: "open_banking_document_requests"
            referencedColumns: ["id"]
          },
        ]
      }
      open_banking_institution_logins: {
        Row: {
          aggregation_status_code: number | null
          authorization_end_at: string | null
          authorization_start_at: string | null
          consent_checked_at: string | null
          created_at: string
          customer_id: string
          earliest_transaction_at: string | null
          history_error: string | null
          history_finished_at: string | null
          history_refresh_id: string | null
          history_started_at: string | null
          history_status: string
          id: number
          institution_id: string | null
          institution_name: string | null
          last_error_message: string | null
          last_event_at: string | null
          needs_reauth: boolean
          oauth: boolean
          platform_client_id: string
          status: string
          updated_at: string
        }
        Insert: {
          aggregation_status_code?: number | null
          authorization_end_at?: string | null
          authorization_start_at?: string | null
          consent_checked_at?: string | null
          created_at?: string
          customer_id: string
          earliest_transaction_at?: string | null
          history_error?: string | null
          history_finished_at?: string | null
          history_refresh_id?: string | null
          history_started_at?: string | null
          history_status?: string
          id: number
          institution_id?: string | null
          institution_name?: string | null
          last_error_message?: string | null
          last_event_at?: string | null
          needs_reauth?: boolean
          oauth?: boolean
          platform_client_id: string
          status?: string
          updated_at?: string
        }
        Update: {
          aggregation_status_code?: number | null
          authorization_end_at?: string | null
          authorization_start_at?: string | null
          consent_checked_at?: string | null
          created_at?: string
          customer_id?: string
          earliest_transaction_at?: string | null
          history_error?: string | null
          history_finished_at?: string | null
          history_refresh_id?: string | null
          history_started_at?: string | null
          history_status?: string
          id?: number
          institution_id?: string | null
          institution_name?: string | null
          last_error_message?: string | null
          last_event_at?: string | null
          needs_reauth?: boolean
          oauth?: boolean
          platform_client_id?: string
          status?: string
          updated_at?: string
        }
        Relationships: [
          {
            foreignKeyName: "open_banking_institution_logins_customer_id_fkey"
            columns: ["customer_id"]
            isOneToOne: false
            referencedRelation: "open_banking_customers"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_institution_logins_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "clients"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_institution_logins_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "open_banking_client_status"
            referencedColumns: ["platform_client_id"]
          },
        ]
      }
      open_banking_institutions: {
        Row: {
          alternate_logo_url: string | null
          created_at: string
          display_name: string | null
          fetch_error: string | null
          fetched_at: string | null
          icon_url: string | null
          id: string
          logo_url: string | null
          name: string | null
          oauth_enabled: boolean | null
          primary_color: string | null
          status: string | null
          tile_url: string | null
          updated_at: string
          url_home_app: string | null
          url_logon_app: string | null
        }
        Insert: {
          alternate_logo_url?: string | null
          created_at?: string
          display_name?: string | null
          fetch_error?: string | null
          fetched_at?: string | null
          icon_url?: string | null
          id: string
          logo_url?: string | null
          name?: string | null
          oauth_enabled?: boolean | null
          primary_color?: string | null
          status?: string | null
          tile_url?: string | null
          updated_at?: string
          url_home_app?: string | null
          url_logon_app?: string | null
        }
        Update: {
          alternate_logo_url?: string | null
          created_at?: string
          display_name?: string | null
          fetch_error?: string | null
          fetched_at?: string | null
          icon_url?: string | null
          id?: string
          logo_url?: string | null
          name?: string | null
          oauth_enabled?: boolean | null
          primary_color?: string | null
          status?: string | null
          tile_url?: string | null
          updated_at?: string
          url_home_app?: string | null
          url_logon_app?: string | null
        }
        Relationships: []
      }
      open_banking_link_requests: {
        Row: {
          birthday: string | null
          coalesced_into: string | null
          created_at: string
          delivery: string
          email_to: string | null
          error_message: string | null
          first_name: string | null
          id: string
          institution_login_id: number | null
          kind: string
          last_name: string | null
          link: string | null
          platform_client_id: string
          requested_by: string | null
          sent_at: string | null
          state: string | null
          status: string
          ttl_expires_at: string | null
          updated_at: string
        }
        Insert: {
          birthday?: string | null
          coalesced_into?: string | null
          created_at?: string
          delivery?: string
          email_to?: string | null
          error_message?: string | null
          first_name?: string | null
          id?: string
          institution_login_id?: number | null
          kind?: string
          last_name?: string | null
          link?: string | null
          platform_client_id: string
          requested_by?: string | null
          sent_at?: string | null
          state?: string | null
          status?: string
          ttl_expires_at?: string | null
          updated_at?: string
        }
        Update: {
          birthday?: string | null
          coalesced_into?: string | null
          created_at?: string
          delivery?: string
          email_to?: string | null
          error_message?: string | null
          first_name?: string | null
          id?: string
          institution_login_id?: number | null
          kind?: string
          last_name?: string | null
          link?: string | null
          platform_client_id?: string
          requested_by?: string | null
          sent_at?: string | null
          state?: string | null
          status?: string
          ttl_expires_at?: string | null
          updated_at?: string
        }
        Relationships: [
          {
            foreignKeyName: "open_banking_link_requests_coalesced_into_fkey"
            columns: ["coalesced_into"]
            isOneToOne: false
            referencedRelation: "open_banking_link_requests"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_link_requests_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "clients"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_link_requests_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "open_banking_client_status"
            referencedColumns: ["platform_client_id"]
          },
        ]
      }
      open_banking_sync_requests: {
        Row: {
          accounts_synced: number | null
          coalesced_into: string | null
          created_at: string
          error_message: string | null
          finished_at: string | null
          id: string
          platform_client_id: string
          refresh_id: string | null
          requested_by: string | null
          started_at: string | null
          status: string
          transactions_synced: number | null
          updated_at: string
        }
        Insert: {
          accounts_synced?: number | null
          coalesced_into?: string | null
          created_at?: string
          error_message?: string | null
          finished_at?: string | null
          id?: string
          platform_client_id: string
          refresh_id?: string | null
          requested_by?: string | null
          started_at?: string | null
          status?: string
          transactions_synced?: number | null
          updated_at?: string
        }
        Update: {
          accounts_synced?: number | null
          coalesced_into?: string | null
          created_at?: string
          error_message?: string | null
          finished_at?: string | null
          id?: string
          platform_client_id?: string
          refresh_id?: string | null
          requested_by?: string | null
          started_at?: string | null
          status?: string
          transactions_synced?: number | null
          updated_at?: string
        }
        Relationships: [
          {
            foreignKeyName: "open_banking_sync_requests_coalesced_into_fkey"
            columns: ["coalesced_into"]
            isOneToOne: false
            referencedRelation: "open_banking_sync_requests"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_sync_requests_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "clients"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_sync_requests_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "open_banking_client_status"
            referencedColumns: ["platform_client_id"]
          },
        ]
      }
      open_banking_transaction_annotations: {
        Row: {
          account_id: string
          category: string | null
          created_at: string
          note: string | null
          platform_client_id: string
          reviewed: boolean
          reviewed_at: string | null
          reviewed_by: string | null
          tax_line: string | null
          transaction_id: number
          updated_at: string
          updated_by: string | null
        }
        Insert: {
          account_id: string
          category?: string | null
          created_at?: string
          note?: string | null
          platform_client_id: string
          reviewed?: boolean
          reviewed_at?: string | null
          reviewed_by?: string | null
          tax_line?: string | null
          transaction_id: number
          updated_at?: string
          updated_by?: string | null
        }
        Update: {
          account_id?: string
          category?: string | null
          created_at?: string
          note?: string | null
          platform_client_id?: string
          reviewed?: boolean
          reviewed_at?: string | null
          reviewed_by?: string | null
          tax_line?: string | null
          transaction_id?: number
          updated_at?: string
          updated_by?: string | null
        }
        Relationships: [
          {
            foreignKeyName: "open_banking_transaction_annotations_account_id_fkey"
            columns: ["account_id"]
            isOneToOne: false
            referencedRelation: "open_banking_accounts"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_transaction_annotations_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "clients"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_transaction_annotations_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "open_banking_client_status"
            referencedColumns: ["platform_client_id"]
          },
        ]
      }
      open_banking_transactions: {
        Row: {
          account_id: string
          amount: number
          category: string | null
          check_number: string | null
          created_at: string
          description: string | null
          effective_at: string | null
          id: number
          memo: string | null
          payee: string | null
          platform_client_id: string
          posted_at: string | null
          source_fetched_at: string
          status: string
          transaction_at: string | null
          type: string | null
          unique_transaction_id: string | null
          updated_at: string
        }
        Insert: {
          account_id: string
          amount: number
          category?: string | null
          check_number?: string | null
          created_at?: string
          description?: string | null
          effective_at?: never
          id: number
          memo?: string | null
          payee?: string | null
          platform_client_id: string
          posted_at?: string | null
          source_fetched_at: string
          status: string
          transaction_at?: string | null
          type?: string | null
          unique_transaction_id?: string | null
          updated_at?: string
        }
        Update: {
          account_id?: string
          amount?: number
          category?: string | null
          check_number?: string | null
          created_at?: string
          description?: string | null
          effective_at?: never
          id?: number
          memo?: string | null
          payee?: string | null
          platform_client_id?: string
          posted_at?: string | null
          source_fetched_at?: string
          status?: string
          transaction_at?: string | null
          type?: string | null
          unique_transaction_id?: string | null
          updated_at?: string
        }
        Relationships: [
          {
            foreignKeyName: "open_banking_transactions_account_id_fkey"
            columns: ["account_id"]
            isOneToOne: false
            referencedRelation: "open_banking_accounts"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_transactions_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "clients"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_transactions_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "open_banking_client_status"
            referencedColumns: ["platform_client_id"]
          },
        ]
      }
    }
    Views: {
      open_banking_client_status: {
        Row: {
          badge: string | null
          has_customer: boolean | null
          institution_logins: number | null
          institution_names: string[] | null
          last_error_message: string | null
          last_synced_at: string | null
          next_consent_expiry_at: string | null
          platform_client_id: string | null
        }
        Relationships: []
      }
      open_banking_transactions_annotated: {
        Row: {
          account_id: string | null
          amount: number | null
          annotated_at: string | null
          category: string | null
          check_number: string | null
          cpa_category: string | null
          description: string | null
          effective_at: string | null
          id: number | null
          memo: string | null
          note: string | null
          payee: string | null
          platform_client_id: string | null
          posted_at: string | null
          reviewed: boolean | null
          reviewed_at: string | null
          reviewed_by: string | null
          status: string | null
          tax_line: string | null
          transaction_at: string | null
          type: string | null
        }
        Relationships: [
          {
            foreignKeyName: "open_banking_transactions_account_id_fkey"
            columns: ["account_id"]
            isOneToOne: false
            referencedRelation: "open_banking_accounts"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_transactions_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "clients"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "open_banking_transactions_platform_client_id_fkey"
            columns: ["platform_client_id"]
            isOneToOne: false
            referencedRelation: "open_banking_client_status"
            referencedColumns: ["platform_client_id"]
          },
        ]
      }
    }
    Functions: {
      ob_accessible_clients: {
        Args: Record<PropertyKey, never>
        Returns: string[]
      }
      ob_account_request_begin: { Args: { p_id: string }; Returns: Json }
      ob_account_request_finish: {
        Args: { p_error?: string; p_id: string }
        Returns: Json
      }
      ob_accounts_delete: {
        Args: {
          p_account_ids: string[]
          p_event_at?: string
          p_finicity_customer_id: string
        }
        Returns: Json
      }
      ob_accounts_upsert: {
        Args: {
          p_accounts: Json
          p_fetched_at: string
          p_finicity_customer_id: string
        }
        Returns: Json
      }
      ob_api_call_permit: { Args: { p_at?: string }; Returns: Json }
      ob_can_access_client: {
        Args: { p_platform_client_id: string }
        Returns: boolean
      }
      ob_client_forget: {
        Args: { p_platform_client_id: string }
        Returns: Json
      }
      ob_customer_delete: {
        Args: { p_finicity_customer_id: string }
        Returns: Json
      }
      ob_customer_delete_unlinked: {
        Args: { p_platform_client_id: string }
        Returns: Json
      }
      ob_customer_get: {
        Args: { p_finicity_customer_id?: string; p_platform_client_id?: string }
        Returns: Json
      }
      ob_customer_set_consumer: {
        Args: { p_consumer_id: string; p_platform_client_id: string }
        Returns: Json
      }
      ob_customer_set_link_status: {
        Args: {
          p_error_code?: string
          p_error_message?: string
          p_event_at?: string
          p_finicity_customer_id: string
          p_status: string
        }
        Returns: Json
      }
      ob_customer_sync_done: {
        Args: { p_finicity_customer_id: string; p_linked_at?: string }
        Returns: Json
      }
      ob_customer_sync_finished: {
        Args: { p_error?: string; p_finicity_customer_id: string }
        Returns: Json
      }
      ob_customer_upsert: {
        Args: {
          p_customer_type: string
          p_finicity_customer_id?: string
          p_link_request_id?: string
          p_platform_client_id: string
          p_username: string
        }
        Returns: Json
      }
      ob_deletion_confirm: {
        Args: { p_deletion_id: number; p_outcome: string }
        Returns: Json
      }
      ob_document_record: { Args: { p_document: Json }; Returns: Json }
      ob_document_request_get: { Args: { p_id: string }; Returns: Json }
      ob_document_request_request: { Args: { p_request: Json }; Returns: Json }
      ob_document_request_update: {
        Args: {
          p_documents_failed?: number
          p_documents_ready?: number
          p_error_message?: string
          p_id: string
          p_status: string
        }
        Returns: Json
      }
      ob_documents_list: {
        Args: { p_limit?: number; p_platform_client_id: string }
        Returns: Json
      }
      ob_export_transactions: {
        Args: {
          p_account_id: string
          p_from: string
          p_include_pending?: boolean
          p_to: string
        }
        Returns: Json
      }
      ob_health: { Args: Record<PropertyKey, never>; Returns: Json }
      ob_institution_login_flag_reauth: {
        Args: {
          p_event_at?: string
          p_login_id: number
          p_message?: string
          p_needs_reauth: boolean
        }
        Returns: Json
      }
      ob_institution_login_history_claim: {
        Args: { p_login_id: number }
        Returns: Json
      }
      ob_institution_login_history_settle: {
        Args: { p_error?: string; p_refresh_id: string; p_status: string }
        Returns: Json
      }
      ob_institution_login_history_started: {
        Args: { p_error?: string; p_login_id: number; p_refresh_id?: string }
        Returns: Json
      }
      ob_institution_login_set_consent: {
        Args: {
          p_end_at: string
          p_login_id: number
          p_start_at: string
          p_warning_days?: number
        }
        Returns: Json
      }
      ob_institution_login_upsert: {
        Args: { p_finicity_customer_id: string; p_login: Json }
        Returns: Json
      }
      ob_institution_logins_after_sync: {
        Args: { p_finicity_customer_id: string }
        Returns: Json
      }
      ob_institutions_to_refresh: { Args: { p_ids?: string[] }; Returns: Json }
      ob_institutions_upsert: {
        Args: { p_fetched_at: string; p_institutions: Json }
        Returns: Json
      }
      ob_job_claim: {
        Args: { p_lease_seconds: number; p_limit: number; p_worker: string }
        Returns: Json
      }
      ob_job_complete: {
        Args: { p_job_id: number; p_worker: string }
        Returns: Json
      }
      ob_job_enqueue: {
        Args: {
          p_dedupe_key?: string
          p_kind: string
          p_max_attempts?: number
          p_payload?: Json
          p_run_after?: string
        }
        Returns: Json
      }
      ob_job_fail: {
        Args: {
          p_error: string
          p_job_id: number
          p_retry?: boolean
          p_worker: string
        }
        Returns: Json
      }
      ob_job_heartbeat: {
        Args: { p_job_id: number; p_lease_seconds: number; p_worker: string }
        Returns: Json
      }
      ob_job_overview: { Args: { p_limit?: number }; Returns: Json }
      ob_job_release: {
        Args: { p_job_id: number; p_worker: string }
        Returns: Json
      }
      ob_job_retry: { Args: { p_job_id: number }; Returns: Json }
      ob_link_request_get: { Args: { p_id: string }; Returns: Json }
      ob_link_request_request: {
        Args: {
          p_email_to: string
          p_first_name?: string
          p_institution_login_id?: number
          p_kind?: string
          p_platform_client_id: string
        }
        Returns: Json
      }
      ob_link_request_update: {
        Args: {
          p_error_message?: string
          p_id: string
          p_link?: string
          p_status: string
          p_ttl_expires_at?: string
        }
        Returns: Json
      }
      ob_partner_auth_attempt: {
        Args: { p_hard_limit?: number; p_holder: string; p_limit: number }
        Returns: Json
      }
      ob_partner_auth_failed: {
        Args: {
          p_error: string
          p_hard_limit?: number
          p_hold_seconds: number
          p_holder: string
          p_limit: number
        }
        Returns: Json
      }
      ob_partner_auth_reset: { Args: Record<PropertyKey, never>; Returns: Json }
      ob_partner_auth_state: { Args: Record<PropertyKey, never>; Returns: Json }
      ob_partner_token_begin_refresh: {
        Args: {
          p_holder: string
          p_lease_seconds?: number
          p_min_valid_seconds?: number
          p_stale_ciphertext?: string
        }
        Returns: Json
      }
      ob_partner_token_get: { Args: Record<PropertyKey, never>; Returns: Json }
      ob_partner_token_put: {
        Args: {
          p_expires_at: string
          p_holder: string
          p_token_ciphertext: string
        }
        Returns: Json
      }
      ob_refresh_owner: { Args: { p_refresh_id: string }; Returns: Json }
      ob_request_fix_link: {
        Args: { p_institution_login_id: number }
        Returns: Json
      }
      ob_status_report: {
        Args: { p_platform_client_id?: string }
        Returns: Json
      }
      ob_sync_cursor: {
        Args: { p_finicity_customer_id: string; p_overlap_days?: number }
        Returns: Json
      }
      ob_sync_request_refresh_settle: {
        Args: { p_error?: string; p_refresh_id: string; p_status: string }
        Returns: Json
      }
      ob_sync_request_refreshing: {
        Args: { p_id: string; p_refresh_id: string }
        Returns: Json
      }
      ob_sync_request_update: {
        Args: {
          p_accounts?: number
          p_error_message?: string
          p_id: string
          p_status: string
          p_transactions?: number
        }
        Returns: Json
      }
      ob_transaction_quarantine_summary: {
        Args: { p_limit?: number }
        Returns: Json
      }
      ob_transactions_reconcile: {
        Args: {
          p_account_id: string
          p_from: string
          p_run_started_at: string
          p_to: string
        }
        Returns: Json
      }
      ob_transactions_reconcile_accounts: {
        Args: {
          p_account_ids: string[]
          p_from: string
          p_run_started_at: string
          p_to: string
        }
        Returns: Json
      }
      ob_transactions_upsert: {
        Args: {
          p_account_id: string
          p_fetched_at: string
          p_rejected?: Json
          p_transactions: Json
        }
        Returns: Json
      }
      ob_transactions_upsert_accounts: {
        Args: { p_accounts: Json; p_fetched_at: string }
        Returns: Json
      }
      ob_webhook_event_get: { Args: { p_event_id: number }; Returns: Json }
      ob_webhook_event_processed: {
        Args: { p_error?: string; p_event_id: number }
        Returns: Json
      }
      ob_webhook_event_replay: { Args: { p_event_id: number }; Returns: Json }
      ob_webhook_events_apply: {
        Args: { p_effects: Json; p_worker: string }
        Returns: Json
      }
      ob_webhook_events_claim: {
        Args: { p_lease_seconds?: number; p_limit?: number; p_worker: string }
        Returns: Json
      }
      ob_webhook_events_ingest: { Args: { p_events: Json }; Returns: Json }
      ob_webhook_events_recent: { Args: { p_limit?: number }; Returns: Json }
    }
    Enums: {
      [_ in never]: never
    }
    CompositeTypes: {
      [_ in never]: never
    }
  }
}

type DatabaseWithoutInternals = Omit<Database, "__InternalSupabase">

type DefaultSchema = DatabaseWithoutInternals[Extract<keyof Database, "public">]

export type Tables<
  DefaultSchemaTableNameOrOptions extends
    | keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends (DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
        DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])
    : never) = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
      DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])[TableName] extends {
      Row: infer R
    }
    ? R
    : never
  : DefaultSchemaTableNameOrOptions extends keyof (DefaultSchema["Tables"] &
        DefaultSchema["Views"])
    ? (DefaultSchema["Tables"] &
        DefaultSchema["Views"])[DefaultSchemaTableNameOrOptions] extends {
        Row: infer R
      }
      ? R
      : never
    : never

export type TablesInsert<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends (DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never) = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Insert: infer I
    }
    ? I
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Insert: infer I
      }
      ? I
      : never
    : never

export type TablesUpdate<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends (DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never) = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Update: infer U
    }
    ? U
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Update: infer U
      }
      ? U
      : never
    : never

export type Enums<
  DefaultSchemaEnumNameOrOptions extends
    | keyof DefaultSchema["Enums"]
    | { schema: keyof DatabaseWithoutInternals },
  EnumName extends (DefaultSchemaEnumNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"]
    : never) = never,
> = DefaultSchemaEnumNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"][EnumName]
  : DefaultSchemaEnumNameOrOptions extends keyof DefaultSchema["Enums"]
    ? DefaultSchema["Enums"][DefaultSchemaEnumNameOrOptions]
    : never

export type CompositeTypes<
  PublicCompositeTypeNameOrOptions extends
    | keyof DefaultSchema["CompositeTypes"]
    | { schema: keyof DatabaseWithoutInternals },
  CompositeTypeName extends (PublicCompositeTypeNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"]
    : never) = never,
> = PublicCompositeTypeNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"][CompositeTypeName]
  : PublicCompositeTypeNameOrOptions extends keyof DefaultSchema["CompositeTypes"]
    ? DefaultSchema["CompositeTypes"][PublicCompositeTypeNameOrOptions]
    : never

export const Constants = {
  public: {
    Enums: {},
  },
} as const

