//! Every scenario runs against both Helm majors kindform supports: for each
//! `async fn NAME(major: HelmMajor, test: &str)` named,
//! `with_both_helm_majors!` makes the tests `NAME::helm3` and `NAME::helm4`.

macro_rules! with_both_helm_majors {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn helm3() {
                    super::$name(
                        kindform_world::real_tools::HelmMajor::V3,
                        concat!(stringify!($name), "::helm3"),
                    )
                    .await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn helm4() {
                    super::$name(
                        kindform_world::real_tools::HelmMajor::V4,
                        concat!(stringify!($name), "::helm4"),
                    )
                    .await;
                }
            }
        )*
    };
}
